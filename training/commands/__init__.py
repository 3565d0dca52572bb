"""The command-line tools, one module each: `cvae-train` is train.py, `cvae-evaluate` evaluate.py, and so on.

Each parses its options and calls the job of the same name in `training/` (training/train.py, ...).
"""
