"""Pure business rules: no I/O, no framework or SDK imports (enforced by import-linter)."""
