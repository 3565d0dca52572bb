"""cvae-export on the shipped networks: ONNX Runtime's answers against the service's PyTorch, and the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxscript", reason="cvae-export needs the export extra: pip install '.[export]'")
pytest.importorskip("onnxruntime", reason="cvae-export needs the export extra: pip install '.[export]'")

from model.checkpoint import load_checkpoint
from model.onnx_export import (
    largest_difference,
    ort_session,
    run_session,
    seeded_inputs,
    served_networks,
)
from training.commands.export import MANIFEST, main

ROOT = Path(__file__).resolve().parents[1]
CVAE = ROOT / "checkpoints" / "cvae-mnist"
CLASSIFIER = ROOT / "checkpoints" / "digit-classifier"
NETWORKS = ("decoder", "encoder", "classifier")
# Measured on the project's CPU over about 3,000 seeded rows (batches of 1 to 1,024): the decoder's logits at
# most 3.4e-5 from PyTorch's (they reach -43, where one float32 step is 3.8e-6), the encoder's and
# classifier's outputs at most 6.2e-6. The worst seen is a third of the bound; a wrong weight or operator is
# far off it.
BOUND = 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model's networks written by cvae-export, end to end."""
    out = tmp_path_factory.mktemp("onnx")
    main([str(CVAE), "--classifier", str(CLASSIFIER), "--out", str(out)])
    return out


def test_the_cli_writes_every_network_and_its_parity(exported: Path) -> None:
    manifest = json.loads((exported / MANIFEST).read_text())
    assert set(manifest["networks"]) == set(NETWORKS)
    for name, network in manifest["networks"].items():
        assert (exported / network["file"]).is_file()
        assert all(spec["shape"][0] == "n" for spec in network["inputs"].values()), name
        assert max(network["largest_abs_difference"].values()) < BOUND, name
    assert manifest["networks"]["decoder"]["outputs"]["logits"]["shape"] == ["n", 1, 28, 28]


@pytest.mark.parametrize("name", NETWORKS)
def test_onnx_runtime_answers_as_the_served_pytorch_at_any_batch_size(exported: Path, name: str) -> None:
    cvae = load_checkpoint(CVAE, "cvae").model
    classifier = load_checkpoint(CLASSIFIER, "classifier").model
    network = next(n for n in served_networks(cvae, classifier) if n.name == name)  # type: ignore[arg-type]
    session = ort_session(exported / f"{name}.onnx")
    batches = [seeded_inputs(cvae, n, seed=100 + n) for n in (1, 8, 13, 64)]  # type: ignore[arg-type]
    for batch in batches:
        with torch.inference_mode():
            served = network.served(*(batch[key] for key in network.inputs))
        assert [t.shape for t in run_session(session, batch)] == [t.shape for t in served]
    largest = largest_difference(network, session, batches)
    assert max(largest.values()) < BOUND, largest


def test_a_missing_checkpoint_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere"), "--classifier", str(CLASSIFIER), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cvae-export: error:") and "nowhere" in lines[0]


def test_without_the_export_extra_it_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "onnxscript" else find_spec(name)
    )
    with pytest.raises(SystemExit) as exit_info:
        main([str(CVAE), "--classifier", str(CLASSIFIER), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert (
        capsys.readouterr().err == "cvae-export: error: onnxscript not installed (pip install '.[export]')\n"
    )
