"""GraphiQL page served with the app's own copies of its assets (works without internet access).

``static/graphiql/index.html`` is strawberry's GraphiQL page with each unpkg.com URL replaced by
``{{ static_url }}/<file>``; the directory holds those files, unchanged from the npm registry.
The app serves the directory at some URL prefix and passes that prefix as ``static_url``.
"""

from __future__ import annotations

import functools
import pathlib
from typing import Final

__all__ = ["GRAPHIQL_STATIC_DIR", "STATIC_URL_PLACEHOLDER", "graphiql_html"]

_APP_DIR: Final = pathlib.Path(__file__).resolve().parent
GRAPHIQL_STATIC_DIR: Final[pathlib.Path] = _APP_DIR / "static" / "graphiql"
STATIC_URL_PLACEHOLDER: Final = "{{ static_url }}"

# static_url goes into HTML attribute values unescaped: refuse anything that could break out.
_FORBIDDEN_IN_STATIC_URL: Final = frozenset("\"'<>&` \t\r\n\\")


@functools.cache
def _template() -> str:
    return (GRAPHIQL_STATIC_DIR / "index.html").read_text(encoding="utf-8")


def graphiql_html(*, static_url: str) -> str:
    """The GraphiQL page, loading its assets from ``static_url`` (e.g. ``/static/graphiql``).

    A trailing ``/`` on ``static_url`` is ignored. Raises ``ValueError`` if ``static_url``
    contains quotes, angle brackets, ``&``, backslashes or whitespace.
    """
    bad = _FORBIDDEN_IN_STATIC_URL.intersection(static_url)
    if bad:
        raise ValueError(f"static_url contains forbidden characters {sorted(bad)!r}")
    return _template().replace(STATIC_URL_PLACEHOLDER, static_url.rstrip("/"))
