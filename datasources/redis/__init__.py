"""Redis (ElastiCache) adapters: caches and counters; never the only copy of money state."""
