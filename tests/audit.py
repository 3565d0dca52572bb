"""`make audit`: known vulnerabilities in the installed packages (pip-audit), and no unpickling in the code.

pip-audit asks a vulnerability database on the internet (PyPI's JSON API, or OSV). Where it cannot reach
one, as on the project's own machines, whose network reaches only the package indexes, this says so plainly
with the count of packages it could not check, and the code check still runs: no module of model/, app/ or
training/ imports pickle, or calls torch.load without weights_only=True (DESIGN.md: no pickle anywhere).
Exits 1 on a known vulnerability or a finding, 0 otherwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "app", "training")
UNPICKLING = (
    (re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib)\b", re.MULTILINE), "imports a pickle module"),
    (
        re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)[^)]*\)"),
        "torch.load without weights_only=True",
    ),
)


def unpickling_findings(root: Path = ROOT) -> list[str]:
    """'path:line: what' for every place in the project's packages that could unpickle."""
    findings = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text()
            for pattern, what in UNPICKLING:
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    findings.append(f"{path.relative_to(root)}:{line}: {what}")
    return findings


def audit_packages() -> tuple[int, list[str]]:
    """(vulnerabilities found, lines to print) from pip-audit over this environment's packages."""
    command = [str(Path(sys.executable).parent / "pip-audit"), "--skip-editable", "--progress-spinner", "off"]
    run = subprocess.run([*command, "--format", "json"], capture_output=True, text=True)
    try:
        dependencies = json.loads(run.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        return 0, [f"pip-audit did not run: {run.stderr.strip().splitlines()[-1:] or run.returncode}"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    lines = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release'})"
        for d in vulnerable
        for v in d["vulns"]
    ]
    checked = len(dependencies) - len(skipped)
    if checked == 0:
        reason = skipped[0]["skip_reason"].split(":")[0] if skipped else "no packages"
        lines.append(
            "pip-audit could not reach its vulnerability database from here: none of the "
            f"{len(dependencies)} packages was checked ({reason})"
        )
    else:
        lines.append(f"pip-audit checked {checked} packages ({len(skipped)} skipped)")
    return sum(len(d["vulns"]) for d in vulnerable), lines


def main() -> int:
    vulnerabilities, lines = audit_packages()
    findings = unpickling_findings()
    lines += findings or [f"no unpickling in {', '.join(PACKAGES)}"]
    print("\n".join(lines))
    return 1 if vulnerabilities or findings else 0


if __name__ == "__main__":
    sys.exit(main())
