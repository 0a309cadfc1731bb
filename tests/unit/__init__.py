"""Unit tests: pure rules, use cases with fakes, adapters against loopback fakes."""
