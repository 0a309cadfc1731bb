"""Test suite: unit/, graphql/, integration/ (real services), e2e/, infra/."""
