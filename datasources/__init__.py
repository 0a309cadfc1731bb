"""Adapters implementing the domain ports over real services (PostgreSQL, Redis, AWS, Razorpay)."""
