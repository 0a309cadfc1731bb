"""Razorpay through the official SDK (sync, requests-based), called off the event loop."""
