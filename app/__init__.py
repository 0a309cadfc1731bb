"""Composition root: settings, process-scoped clients, the Starlette app and the Lambda handler."""
