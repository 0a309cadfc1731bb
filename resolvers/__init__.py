"""Use cases: async orchestration over domain ports, shared by GraphQL, webhooks and jobs."""
