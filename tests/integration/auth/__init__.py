"""Cognito tokens from the AWS emulator (moto server) verified end to end."""
