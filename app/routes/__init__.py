"""Routers by resource: operations, the web page, the model, generation from latents, datasets, and uploads.

The endpoints that run the models are plain `def`s: FastAPI runs them in its thread pool, so inference and
PNG encoding never block the event loop.
"""
