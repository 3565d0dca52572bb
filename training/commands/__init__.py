"""The command-line tools, one module each: `cvae-train` is train.py, `cvae-evaluate` evaluate.py, and so on;
the reports that `make results`, `make legible` and `make trust` run are report.py, legible_report.py,
ood_report.py and photo_accuracy.py (`python -m training.commands.<name>`).

Each parses its options and calls the job of the same name in `training/` (training/train.py, ...).
"""
