"""Secrets Manager at run time, through Powertools Parameters' ``SecretsProvider``.

Powertools caches each secret for ``max_age`` seconds (5 minutes in production, 10 s in the
local stack): a rotation is picked up within that time, without a restart, and a warm Lambda
pays for one ``GetSecretValue`` per secret per period. ``force=True`` skips the cache (after
the database refused a password: the secret has just been rotated).

The provider is boto3 (synchronous): :meth:`SecretsManagerReader.aget_json` runs a fetch in a
worker thread, and answers from the cache without one while the cached value is fresh.
Powertools' parameters and boto3 are imported on the first use, not at import (about 150 ms):
a cold start that needs no secret never pays for them.

Errors become :class:`SecretUnavailable`, whose message names the secret but never a value.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


class SecretUnavailable(Exception):
    """A secret could not be read, or is not the JSON object expected."""


class SecretsManagerReader:
    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        max_age_seconds: int = 300,
        client: Any = None,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self.max_age_seconds = max_age_seconds
        self._client = client
        self._provider: SecretsProvider | None = None

    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            client = self._client
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    "secretsmanager",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard"}),
                )
            self._provider = SecretsProvider(boto3_client=client)
        return self._provider

    def is_fresh(self, secret_id: str) -> bool:
        """The cached value is younger than ``max_age_seconds``."""
        return self._secrets().has_not_expired_in_cache((secret_id, "json", False))

    def get_json(self, secret_id: str, *, force: bool = False) -> dict[str, Any]:
        """The secret's JSON object (blocking on a fetch: use :meth:`aget_json` on the loop)."""
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        try:
            value = self._secrets().get(
                secret_id, max_age=self.max_age_seconds, transform="json", force_fetch=force
            )
        except GetParameterError as exc:
            raise SecretUnavailable(f"secret {secret_id} could not be read: {exc}") from None
        except TransformParameterError:
            raise SecretUnavailable(f"secret {secret_id} is not JSON") from None
        if not isinstance(value, dict):
            raise SecretUnavailable(f"secret {secret_id} is not a JSON object")
        return value

    async def aget_json(self, secret_id: str, *, force: bool = False) -> dict[str, Any]:
        if not force and self.is_fresh(secret_id):
            return self.get_json(secret_id)
        return await asyncio.to_thread(self.get_json, secret_id, force=force)
