"""Settings production accepts, pointing at nothing (no test connects to any of it): for tests
without I/O that need ``ENVIRONMENT=production`` to start (tests/support/production.py is the
one on this run's real services)."""

from __future__ import annotations

ARN = "arn:aws:secretsmanager:ap-south-1:123456789012:secret"
SITE = "https://shop.example.in"
# everything production needs; nothing here is ever connected to
PRODUCTION: dict[str, object] = {
    "environment": "production",  # GraphiQL and introspection: off by default
    "database_url": "postgresql+asyncpg://storefront@proxy.internal:5432/storefront",
    "database_secret_arn": f"{ARN}:rds-master",
    "redis_url": "rediss://cache.internal:6379",
    "razorpay_secret_arn": f"{ARN}:razorpay",
    "aws_endpoint_url": None,
    "cognito_user_pool_id": "ap-south-1_AbC123xyz",
    "cognito_client_ids": "client0001",
    "sns_customer_topic_arn": "arn:aws:sns:ap-south-1:123456789012:customers",
    "sns_admin_topic_arn": "arn:aws:sns:ap-south-1:123456789012:admins",
    "kms_key_id": "arn:aws:kms:ap-south-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    "public_base_url": SITE,
    "storefront_success_url": f"{SITE}/shop/checkout/success.html",
    "storefront_failure_url": f"{SITE}/shop/checkout/failure.html",
    "cors_allowed_origins": SITE,
}


def production_environment() -> dict[str, str]:
    return {name.upper(): str(value) for name, value in PRODUCTION.items() if value is not None}
