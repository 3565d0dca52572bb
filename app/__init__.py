"""The HTTP service: FastAPI over the CVAE and the digit classifier (DESIGN.md, "HTTP API, version 1")."""
