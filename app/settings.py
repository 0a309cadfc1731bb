"""The one validated settings object. Nothing else in the project reads ``os.environ``.

Read lazily with :func:`get_settings` (never at import), so a Lambda cold start pays for it
once and tests can build their own ``Settings(...)``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///.devstack/storefront.db"


def normalise_database_url(url: str) -> str:
    """Map the URLs people write (``postgres://``, ``sqlite:///``…) to the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Literal["local", "test", "production"] = "local"
    log_level: str = "INFO"
    service_name: str = "storefront-gateway"

    # PostgreSQL (RDS) in production; SQLite only as the zero-setup local default.
    database_url: str = DEFAULT_SQLITE_URL
    database_pool_size: int = Field(default=5, ge=1, le=100)
    database_echo: bool = False

    # Redis (ElastiCache); None = in-process cache (local stack only, never the truth).
    redis_url: str | None = None

    # AWS: the endpoint points every client at the local emulator; None = real AWS.
    aws_region: str = "ap-south-1"
    aws_endpoint_url: str | None = None

    # GraphQL
    graphiql_enabled: bool = True
    max_page_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=20, ge=1, le=100)
    max_query_depth: int = Field(default=12, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
