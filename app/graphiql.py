"""GraphiQL page served with the app's own copies of its assets (works without internet access).

``static/graphiql/index.html`` is strawberry's GraphiQL page with each unpkg.com URL replaced by
``{{ static_url }}/<file>``; the directory holds those files, unchanged from the npm registry.
The app serves the directory at some URL prefix and passes that prefix as ``static_url``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import pathlib
import re
from typing import Final

__all__ = ["GRAPHIQL_STATIC_DIR", "STATIC_URL_PLACEHOLDER", "graphiql_csp", "graphiql_html"]

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


_INLINE_SCRIPT: Final = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_scripts(html: str) -> list[str]:
    """The text of each ``<script>`` without attributes (no ``src``) in ``html``."""
    return _INLINE_SCRIPT.findall(html)


def graphiql_csp(html: str) -> str:
    """The Content-Security-Policy the GraphiQL page ``html`` works under: scripts only from
    the app itself and the page's own inline script (by its hash: no other inline script runs,
    nothing is eval'd); styles from the app and inline ones (GraphiQL sets element styles; CSS
    runs no code); images and fonts from the app or data: URLs (the favicon, the CSS's fonts);
    requests only to the app itself; never framed."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
        for s in inline_scripts(html)
    )
    return (
        "default-src 'none'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
