"""LitServe and BentoML serving the project's networks beside cvae-serve (`make bench-peers`, run.py)."""
