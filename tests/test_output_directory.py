"""A bad --out fails in a second, with one line and status 2, before any data is read or any epoch runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from robustness import Recorder

from training.commands import arguments, train, train_classifier
from training.output import OutputDirectoryError, check_output_directory


@pytest.mark.parametrize(
    "main", [train.main, train_classifier.main], ids=["cvae-train", "cvae-train-classifier"]
)
def test_an_unwritable_output_directory_fails_before_training(
    main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, robustness: Recorder
) -> None:
    def no_data(*args: object) -> None:
        raise AssertionError("the data must not be loaded for a run that cannot be saved")

    monkeypatch.setattr(arguments, "load_split", no_data)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(blocked / "checkpoint"), "--epochs", "1"])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and error.count("\n") == 1 and "cannot write to" in error
    robustness.record(
        sent="--out under a file (cannot be created), data loading made to fail if reached",
        count=1,
        came_back=f"exit status 2 and one line before any data was read: {_tidy(error, tmp_path)}",
    )


def test_a_full_output_directory_is_refused(tmp_path: Path, robustness: Recorder) -> None:
    with pytest.raises(OutputDirectoryError, match="MB free") as refused:
        check_output_directory(tmp_path / "out", min_free_bytes=2**62)
    robustness.record(
        sent="--out on a disk with less free space than a checkpoint needs (the need set to 2^62 bytes)",
        count=1,
        came_back=f"refused before training: {_tidy(str(refused.value), tmp_path)}",
    )


def _tidy(message: str, tmp_path: Path) -> str:
    """The message as the table shows it: one line, the test's temporary directory written as <tmp>."""
    return message.strip().replace(str(tmp_path), "<tmp>")


def test_a_writable_output_directory_is_created_and_left_clean(tmp_path: Path) -> None:
    check_output_directory(tmp_path / "new" / "out")
    assert (tmp_path / "new" / "out").is_dir() and not any((tmp_path / "new" / "out").iterdir())
