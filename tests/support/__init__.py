"""Test support: the real services a run needs (PostgreSQL, Redis, the AWS emulator)."""
