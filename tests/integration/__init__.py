"""Integration tests: adapters against real services (PostgreSQL, Redis, the AWS emulator)."""
