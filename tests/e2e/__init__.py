"""End-to-end tests: the local stack as a process, driven over HTTP like a storefront."""
