"""Infrastructure: AWS templates and the local stack."""
