"""The secrets the app runs with, current: Razorpay's keys and webhook secrets, and the
database password.

Without secret ARNs (tests, the local stack without an emulator) they are the settings' own
values and never change. With ``RAZORPAY_SECRET_ARN`` / ``DATABASE_SECRET_ARN`` they come from
Secrets Manager (:mod:`datasources.secrets`, cached ``SECRETS_CACHE_SECONDS``): every request
and every job run starts with :meth:`RuntimeSecrets.refresh`, which re-reads a secret once its
cached value is older than that, so a rotation is picked up without a restart. A failed
re-read keeps the last good value (logged); only the very first read failing is an error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from datasources.secrets import SecretsManagerReader

logger = logging.getLogger(__name__)


class SecretsNotReady(Exception):
    """A secret the app needs could not be read yet (Secrets Manager unreachable, or the
    secret is not what it should be): the request is answered 503, the job waits."""


@dataclass(frozen=True, slots=True)
class RazorpayKeys:
    key_id: str
    key_secret: str
    webhook_secrets: tuple[str, ...]  # the current one first, then the previous (rotation)

    def __repr__(self) -> str:  # never the values
        return f"RazorpayKeys(key_id={self.key_id!r}, key_secret=***, webhook_secrets=***)"


@dataclass(frozen=True, slots=True)
class DatabaseLogin:
    username: str | None
    password: str

    def __repr__(self) -> str:
        return f"DatabaseLogin(username={self.username!r}, password=***)"


def razorpay_keys_of(secret: dict[str, Any], *, name: str) -> RazorpayKeys:
    """The Razorpay secret's JSON (API.md "Local stack additions"): ``key_id``, ``key_secret``,
    ``webhook_secret`` and, during a rotation, ``webhook_secret_previous``."""
    values = {
        field: secret.get(field)
        for field in ("key_id", "key_secret", "webhook_secret", "webhook_secret_previous")
    }
    missing = [f for f in ("key_id", "key_secret", "webhook_secret") if not values[f]]
    wrong = [f for f, v in values.items() if v is not None and not isinstance(v, str)]
    if missing or wrong:
        raise SecretsNotReady(
            f"secret {name}: "
            + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"not text: {', '.join(wrong)}"] if wrong else [])
            )
        )
    webhook = tuple(
        str(v) for v in (values["webhook_secret"], values["webhook_secret_previous"]) if v
    )
    return RazorpayKeys(
        key_id=str(values["key_id"]), key_secret=str(values["key_secret"]), webhook_secrets=webhook
    )


def database_login_of(secret: dict[str, Any], *, name: str) -> DatabaseLogin:
    password = secret.get("password")
    username = secret.get("username")
    if not isinstance(password, str) or not password:
        raise SecretsNotReady(f"secret {name}: missing password")
    return DatabaseLogin(
        username=username if isinstance(username, str) else None, password=password
    )


class RuntimeSecrets:
    def __init__(self, settings: Settings, reader: SecretsManagerReader | None = None) -> None:
        self._settings = settings
        if reader is None and (settings.razorpay_secret_arn or settings.database_secret_arn):
            from datasources.secrets import SecretsManagerReader

            reader = SecretsManagerReader(
                region=settings.aws_region,
                endpoint_url=settings.aws_endpoint_url,
                max_age_seconds=settings.secrets_cache_seconds,
            )
        self._reader = reader
        self._razorpay: RazorpayKeys | None = None
        self._database: DatabaseLogin | None = None
        self._checked_at: float | None = None

    @property
    def configured(self) -> bool:
        return self._reader is not None

    def razorpay(self) -> RazorpayKeys:
        """The current keys (the settings' own when no secret is configured)."""
        if self._settings.razorpay_secret_arn is None:
            s = self._settings
            return RazorpayKeys(
                key_id=s.razorpay_key_id,
                key_secret=s.razorpay_key_secret.get_secret_value(),
                webhook_secrets=tuple(
                    v.get_secret_value()
                    for v in (s.razorpay_webhook_secret, s.razorpay_webhook_previous_secret)
                    if v.get_secret_value()
                ),
            )
        if self._razorpay is None:
            raise SecretsNotReady("Razorpay's keys have not been read yet")
        return self._razorpay

    async def refresh(self, *, force: bool = False) -> bool:
        """Re-read what is due (everything, with ``force``); answers whether anything changed."""
        if self._reader is None:
            return False
        now = time.monotonic()
        due = self._checked_at is None or now - self._checked_at >= self._reader.max_age_seconds
        if not (due or force):
            return False
        self._checked_at = now
        changed = False
        s = self._settings
        if s.razorpay_secret_arn:
            keys = await self._read(
                s.razorpay_secret_arn, razorpay_keys_of, current=self._razorpay, force=force
            )
            changed |= keys != self._razorpay
            self._razorpay = keys
        if s.database_secret_arn:
            login = await self._read(
                s.database_secret_arn, database_login_of, current=self._database, force=force
            )
            changed |= login != self._database
            self._database = login
        return changed

    async def _read(self, arn: str, parse: Any, *, current: Any, force: bool) -> Any:
        from datasources.secrets import SecretUnavailable

        assert self._reader is not None
        try:
            return parse(await self._reader.aget_json(arn, force=force), name=arn)
        except (SecretUnavailable, SecretsNotReady) as exc:
            if current is None:
                raise SecretsNotReady(str(exc)) from None
            logger.warning("secret %s not re-read, the last good value stays: %s", arn, exc)
            return current

    def database_login(self, *, force: bool = False) -> DatabaseLogin | None:
        """For a new database connection (synchronous: SQLAlchemy's ``do_connect``). With
        ``force`` (the database refused the password: rotated) the secret is read again at
        once, blocking that connect for one Secrets Manager call."""
        arn = self._settings.database_secret_arn
        if arn is None or self._reader is None:
            return None
        if force or self._database is None:
            from datasources.secrets import SecretUnavailable

            try:
                secret = self._reader.get_json(arn, force=force)
            except SecretUnavailable as exc:
                raise SecretsNotReady(str(exc)) from None
            self._database = database_login_of(secret, name=arn)
        return self._database
