"""Offline half of cvae-digits: data, the training loop, evaluation and the `cvae-train` CLI."""
