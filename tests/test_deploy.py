"""The Kubernetes manifests in deploy/: valid objects of the Kubernetes API, offline, and consistent with the
image (Dockerfile) and the service (app.settings) in what a schema cannot see."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (the dev extra)"
)
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The oldest and the newest Kubernetes whose schemas kubernetes-validate (>= 1.37) bundles: a field that
# either lacks, or one it has removed, fails. The schemas are files in the package: no network.
KUBERNETES_VERSIONS = ("1.28", "1.37")
MANIFESTS = sorted(path.name for path in DEPLOY.glob("*.yaml") if path.name != "kustomization.yaml")

Manifest = dict[str, Any]


def load(path: Path) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.fixture(scope="module")
def objects() -> dict[str, Manifest]:
    """Every object of deploy/, by kind (one of each)."""
    found = [document for name in MANIFESTS for document in load(DEPLOY / name)]
    by_kind = {document["kind"]: document for document in found}
    assert len(by_kind) == len(found), "one object of each kind"
    assert set(by_kind) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    return by_kind


@pytest.fixture(scope="module")
def pod(objects: dict[str, Manifest]) -> Manifest:
    return objects["Deployment"]["spec"]["template"]


@pytest.fixture(scope="module")
def container(pod: Manifest) -> Manifest:
    (only,) = pod["spec"]["containers"]
    return only


def dockerfile_instruction(name: str) -> str:
    """The argument of the runtime stage's (the last) `name` instruction."""
    values = re.findall(rf"^{name}\s+(\S+)", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert values, f"no {name} in the Dockerfile"
    return values[-1]


def container_port(container: Manifest, port: int | str) -> int:
    """A probe's or a Service's port, by number or by the container port's name."""
    (match,) = [p for p in container["ports"] if port in (p["containerPort"], p.get("name"))]
    return match["containerPort"]


def cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def literal_env(container: Manifest) -> dict[str, str]:
    return {var["name"]: var["value"] for var in container["env"] if "value" in var}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_strictly(name: str, version: str) -> None:
    """Strict: a misspelt or unknown field fails too, where Kubernetes itself would drop it silently."""
    for document in load(DEPLOY / name):
        assert kubernetes_validate.validate(document, version, strict=True) == version


def test_validator_rejects_a_broken_manifest(tmp_path: Path) -> None:
    """The validation above can fail: a port given as a word, and a misspelt field, are each reported."""
    text = (DEPLOY / "deployment.yaml").read_text()
    broken = tmp_path / "deployment.yaml"
    broken.write_text(text.replace("containerPort: 8000", "containerPort: eight-thousand", 1))
    (document,) = load(broken)
    with pytest.raises(kubernetes_validate.ValidationError) as error:
        kubernetes_validate.validate(document, KUBERNETES_VERSIONS[-1], strict=True)
    assert list(error.value.path)[-1] == "containerPort"

    (good,) = load(DEPLOY / "deployment.yaml")
    misspelt = copy.deepcopy(good)
    probed = misspelt["spec"]["template"]["spec"]["containers"][0]
    probed["livenesProbe"] = probed.pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = load(DEPLOY / "kustomization.yaml")
    assert sorted(kustomization["resources"]) == MANIFESTS


def test_runs_as_the_dockerfile_user_without_privileges(pod: Manifest, container: Manifest) -> None:
    uid, gid = (int(part) for part in dockerfile_instruction("USER").split(":"))
    assert uid != 0
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_read_only_root_leaves_tmp_writable(pod: Manifest, container: Manifest) -> None:
    """Uploads over 1 MiB spool to /tmp (Starlette's multipart parser): a read-only root needs a volume."""
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert not mount.get("readOnly", False)
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume


def test_ports_and_probes_are_the_services(pod: Manifest, container: Manifest) -> None:
    """The Dockerfile's port; liveness on /healthz (the process answers), readiness on /readyz (the models
    are loaded), and /metrics for the scraper, all on that port."""
    port = int(dockerfile_instruction("EXPOSE"))
    assert [p["containerPort"] for p in container["ports"]] == [port]
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("startup", "liveness", "readiness")}
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "startup": "/healthz",
        "liveness": "/healthz",
        "readiness": "/readyz",
    }
    assert all(container_port(container, probe["port"]) == port for probe in probes.values())
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port


def test_env_sets_real_settings_to_valid_values(container: Manifest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CVAE_* name that is no setting would be ignored without a word; a bad value would stop the pod."""
    names = [var["name"] for var in container["env"]]
    assert names, "the pod sets its CVAE_* settings"
    unknown = [name for name in names if name.removeprefix("CVAE_").lower() not in Settings.model_fields]
    assert not unknown
    assert all(name.startswith("CVAE_") for name in names)
    for name in [name for name in os.environ if name.startswith("CVAE_")]:
        monkeypatch.delenv(name)
    for name, value in literal_env(container).items():
        monkeypatch.setenv(name, value)
    Settings()

    (api_key,) = [var for var in container["env"] if var["name"] == "CVAE_API_KEY"]
    assert api_key["valueFrom"]["secretKeyRef"]["optional"] is True


def test_workers_and_threads_follow_the_cpu_limit(container: Manifest) -> None:
    """Left at 0, workers and model threads come from the container's CPU quota (app/cpus.py); pinned, they
    must not ask for more than the limit."""
    env = literal_env(container)
    limit = cores(container["resources"]["limits"]["cpu"])
    workers = int(env.get("CVAE_WORKERS", 0)) or limit
    threads = int(env.get("CVAE_MODEL_THREADS", 0)) or max(1, limit // workers)
    assert workers * threads <= limit


def test_grace_period_outlasts_a_request_in_flight(pod: Manifest, container: Manifest) -> None:
    """After the preStop sleep, a request may still take its header and body deadlines to arrive."""
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    env = literal_env(container)
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    header_s = float(env.get("CVAE_HEADER_TIMEOUT_S", defaults["header_timeout_s"]))
    body_s = float(env.get("CVAE_BODY_TIMEOUT_S", defaults["body_timeout_s"]))
    assert pod["spec"]["terminationGracePeriodSeconds"] > sleep + header_s + body_s


def test_service_reaches_the_pods(objects: dict[str, Manifest], pod: Manifest, container: Manifest) -> None:
    deployment, service = objects["Deployment"], objects["Service"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert container_port(container, port["targetPort"]) == int(dockerfile_instruction("EXPOSE"))


def test_autoscaler_owns_the_deployments_replicas(objects: dict[str, Manifest], container: Manifest) -> None:
    """The HPA scales this Deployment on CPU, which needs a CPU request; a fixed `replicas` would fight it."""
    deployment, hpa = objects["Deployment"], objects["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"]
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert cores(container["resources"]["requests"]["cpu"]) > 0
