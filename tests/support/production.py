"""A production environment (``ENVIRONMENT=production``, which refuses to start without what
production needs) for an app whose services are this run's, on loopback: the Razorpay keys and
the database login go into the emulator's Secrets Manager, as the SAM template puts them in
AWS's, and the public URLs are https."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

from app.settings import Settings
from infra.local.emulator import emulator_client

SITE = "https://shop.example.test"
DIRECT_SECRETS = (
    "RAZORPAY_KEY_ID",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
    "RAZORPAY_WEBHOOK_PREVIOUS_SECRET",
)


def secrets_in_emulator(settings: Settings) -> dict[str, str]:
    """The settings' Razorpay keys and database login as Secrets Manager secrets in the
    emulator: ``{"RAZORPAY_SECRET_ARN": …, "DATABASE_SECRET_ARN": …}``."""
    assert settings.aws_endpoint_url is not None
    client = emulator_client(
        "secretsmanager", endpoint_url=settings.aws_endpoint_url, region=settings.aws_region
    )
    tag = uuid.uuid4().hex[:10]
    razorpay = {
        "key_id": settings.razorpay_key_id,
        "key_secret": settings.razorpay_key_secret.get_secret_value(),
        "webhook_secret": settings.razorpay_webhook_secret.get_secret_value(),
        "webhook_secret_previous": settings.razorpay_webhook_previous_secret.get_secret_value(),
    }
    url = urlsplit(settings.database_url)
    # trust auth on this machine: the user is checked, the password is not
    login = {"username": url.username or "postgres", "password": url.password or f"pw-{tag}"}
    arns = {}
    for name, value in (("RAZORPAY_SECRET_ARN", razorpay), ("DATABASE_SECRET_ARN", login)):
        answer = client.create_secret(Name=f"{name.lower()}-{tag}", SecretString=json.dumps(value))
        arns[name] = str(answer["ARN"])
    return arns


def production_environment(env: dict[str, str], settings: Settings) -> dict[str, str]:
    """``env`` (the variables that make ``Settings()`` equal ``settings``) made production's:
    secrets by ARN only, https public URLs."""
    production = {k: v for k, v in env.items() if k not in DIRECT_SECRETS}
    return (
        production
        | secrets_in_emulator(settings)
        | {
            "ENVIRONMENT": "production",
            "SECRETS_CACHE_SECONDS": "10",
            "PUBLIC_BASE_URL": SITE,
            "STOREFRONT_SUCCESS_URL": f"{SITE}/shop/checkout/success.html",
            "STOREFRONT_FAILURE_URL": f"{SITE}/shop/checkout/failure.html",
            "STOREFRONT_SERVED": "false",  # S3 + CloudFront serve it
            "CORS_ALLOWED_ORIGINS": SITE,
        }
    )
