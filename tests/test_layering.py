"""The layering rule: model/ is the core and imports none of the layers above it (nor a web framework);
training/ and app/ build on model/, never on each other; the client (cvae_client, its own distribution in
client/) talks HTTP and imports none of them, nor torch."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> the top-level modules it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "model": frozenset({"training", "app", "cvae_client", "fastapi", "starlette", "uvicorn"}),
    "training": frozenset({"app", "cvae_client"}),
    "app": frozenset({"training", "cvae_client"}),
    "cvae_client": frozenset({"model", "training", "app", "torch"}),
}
# package -> the directory, relative to the root, that holds it (the root unless named here)
SOURCE_DIRS = {"cvae_client": "client/src"}


def source_dir(root: Path, package: str) -> Path:
    return root / SOURCE_DIRS.get(package, ".")


def imported_modules(path: Path, source_dir: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth, relative ones resolved
    against the file's place under source_dir."""
    package = list(path.relative_to(source_dir).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, node.module or ""))
            else:
                base = package[: max(0, len(package) - (node.level - 1))]
                found.append((node.lineno, ".".join([*base, *([node.module] if node.module else [])])))
    return found


def layering_violations(root: Path = ROOT) -> list[str]:
    """'path:line: package imports module' for every import that runs against the layering rule."""
    violations = []
    for package, forbidden in FORBIDDEN.items():
        base = source_dir(root, package)
        for path in sorted((base / package).rglob("*.py")):
            for line, module in imported_modules(path, base):
                if module.split(".")[0] in forbidden:
                    violations.append(f"{path.relative_to(root)}:{line}: {package} imports {module}")
    return violations


def test_no_import_runs_against_the_layering() -> None:
    assert all(any((source_dir(ROOT, package) / package).rglob("*.py")) for package in FORBIDDEN)
    assert layering_violations() == []


def test_the_check_finds_a_wrong_import_at_any_depth_and_relative_ones(tmp_path: Path) -> None:
    files = {
        "model/core.py": "import torch\nfrom model.config import CVAEConfig\n",
        "model/web.py": "def handler():\n    from fastapi import FastAPI\n",
        "training/train.py": "from model import cvae\nfrom ..app.main import create_app\n",
        "app/routes/generation.py": "from ..service import ModelService\nimport training.train\n",
        "client/src/cvae_client/calls.py": "import httpx\nfrom . import errors\n",
        "client/src/cvae_client/cli.py": "def main():\n    import torch\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert layering_violations(tmp_path) == [
        "model/web.py:2: model imports fastapi",
        "training/train.py:2: training imports app.main",
        "app/routes/generation.py:2: app imports training.train",
        "client/src/cvae_client/cli.py:2: cvae_client imports torch",
    ]
