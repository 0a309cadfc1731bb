"""Tests of the Cognito JWT verifier, JWKS client and Starlette auth backend."""
