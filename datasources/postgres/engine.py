"""Engine and session factory. One engine per process (the container owns it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# (user or None for the URL's, password); ``force``: read it again now (it was refused)
Login = Callable[[bool], tuple[str | None, str] | None]

REFUSED_LOGIN = frozenset({"28P01", "28000"})  # invalid_password, invalid_authorization


def create_engine(
    *, url: str, pool_size: int = 5, echo: bool = False, login: Login | None = None
) -> AsyncEngine:
    """``login``: the credentials for each new connection (Secrets Manager's, current), so a
    rotated password is used from the next connection on, without a restart."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args={"timeout": 10, "command_timeout": 30},
    )
    if login is not None:
        event.listen(engine.sync_engine, "do_connect", _connect_as(login))
    return engine


def _connect_as(login: Login) -> Callable[..., Any]:
    def do_connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        current = login(False)
        if current is None:
            return None  # the URL's own credentials
        _use(cparams, current)
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) not in REFUSED_LOGIN:
                raise
            # refused: the password was rotated since it was read; read it again, once
            renewed = login(True)
            if renewed is None or renewed == current:
                raise
            _use(cparams, renewed)
            return dialect.connect(*cargs, **cparams)

    return do_connect


def _use(cparams: dict[str, Any], login: tuple[str | None, str]) -> None:
    user, password = login
    if user:
        cparams["user"] = user
    cparams["password"] = password


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class StatementCounter:
    """Counts SQL statements an engine sends (for N+1 tests and benchmarks)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine: Engine = engine.sync_engine
        self.count = 0
        self.statements: list[str] = []

    def _on_execute(self, *args: Any) -> None:
        self.count += 1
        self.statements.append(str(args[2]))

    def __enter__(self) -> StatementCounter:
        event.listen(self._engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on_execute)
