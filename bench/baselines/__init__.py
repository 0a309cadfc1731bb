"""The baselines the project is measured against, each an ASGI app factory for uvicorn."""
