"""GraphQL tests: the schema over HTTP against the app on real services."""
