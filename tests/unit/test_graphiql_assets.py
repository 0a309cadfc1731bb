"""The GraphiQL page loads every asset from the app itself (no CDN), and those assets exist."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import pathlib
import re
from html.parser import HTMLParser

import pytest

from app.graphiql import GRAPHIQL_STATIC_DIR, STATIC_URL_PLACEHOLDER, graphiql_html

STATIC_URL = "/static/graphiql"

# The page needs exactly these (see the comment at the top of index.html for their npm origins).
EXPECTED_ASSETS = frozenset(
    {
        "react.production.min.js",
        "react-dom.production.min.js",
        "js.cookie.min.js",
        "graphiql.min.css",
        "graphiql.min.js",
        "graphiql-plugin-explorer.css",
        "graphiql-plugin-explorer.umd.js",
    }
)
EXPECTED_LICENSES = frozenset(
    f"{name}.LICENSE.txt"
    for name in ("react", "react-dom", "js-cookie", "graphiql", "graphiql-plugin-explorer")
)

_PLACEHOLDER_REF = re.compile(re.escape(STATIC_URL_PLACEHOLDER) + r"/([^\"'\s<>]*)")
_ANY_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CDN_HOSTS = ("unpkg", "jsdelivr", "cdnjs", "esm.sh", "skypack", "googleapis", "cloudflare")


class _AssetTags(HTMLParser):
    """Collects (tag, url, integrity) for every <script src> and <link href>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        url = attributes.get("src") if tag == "script" else None
        if tag == "link" and attributes.get("rel") in {"stylesheet", "preload", "modulepreload"}:
            url = attributes.get("href")
        if url is not None:
            self.refs.append((tag, url, attributes.get("integrity")))


def _asset_tags(html: str) -> list[tuple[str, str, str | None]]:
    parser = _AssetTags()
    parser.feed(html)
    parser.close()
    return parser.refs


def _template() -> str:
    return (GRAPHIQL_STATIC_DIR / "index.html").read_text(encoding="utf-8")


def _sri_sha384(path: pathlib.Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def test_scripts_and_stylesheets_are_served_by_the_app() -> None:
    html = graphiql_html(static_url=STATIC_URL)
    refs = _asset_tags(html)

    assert {tag for tag, _, _ in refs} == {"script", "link"}
    assert len(refs) == len(EXPECTED_ASSETS)
    for _, url, _ in refs:
        assert not url.startswith(("http://", "https://", "//")), url
        assert url.startswith(f"{STATIC_URL}/"), url
    lowered = html.lower()
    for host in _CDN_HOSTS:
        assert host not in lowered, host
    assert re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html) is None


def test_every_referenced_asset_exists_and_is_not_empty() -> None:
    referenced = _PLACEHOLDER_REF.findall(_template())

    assert sorted(referenced) == sorted(EXPECTED_ASSETS)
    for name in referenced:
        path = GRAPHIQL_STATIC_DIR / name
        assert path.resolve().parent == GRAPHIQL_STATIC_DIR.resolve(), name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name


def test_rendered_urls_point_at_the_files() -> None:
    for _, url, _ in _asset_tags(graphiql_html(static_url=STATIC_URL)):
        path = GRAPHIQL_STATIC_DIR / url.removeprefix(f"{STATIC_URL}/")
        assert path.is_file(), url


def test_integrity_hashes_match_the_files() -> None:
    for _, url, integrity in _asset_tags(graphiql_html(static_url=STATIC_URL)):
        if integrity is not None:
            path = GRAPHIQL_STATIC_DIR / url.removeprefix(f"{STATIC_URL}/")
            assert integrity == _sri_sha384(path), url


def test_directory_holds_only_the_page_its_assets_and_their_licenses() -> None:
    present = {p.name for p in GRAPHIQL_STATIC_DIR.iterdir()}

    assert present == EXPECTED_ASSETS | EXPECTED_LICENSES | {"index.html"}
    for name in EXPECTED_LICENSES:
        assert "MIT License" in (GRAPHIQL_STATIC_DIR / name).read_text(encoding="utf-8"), name


def test_placeholders_are_filled_and_the_page_logic_is_intact() -> None:
    template = _template()
    html = graphiql_html(static_url=STATIC_URL)

    # strawberry 0.341's page has no placeholders of its own (it is served verbatim); ours is
    # the only one, and nothing like it survives rendering.
    assert set(_ANY_PLACEHOLDER.findall(template)) == {STATIC_URL_PLACEHOLDER}
    assert _ANY_PLACEHOLDER.search(html) is None
    # The parts of strawberry's script the page relies on.
    for needle in (
        'window.location.href.split("?")[0]',
        "GraphiQL.createFetcher(",
        "subscriptionUrl",
        'Cookies.get("csrftoken")',
        "GraphiQLPluginExplorer.explorerPlugin()",
        'ReactDOM.createRoot(document.getElementById("graphiql"))',
    ):
        assert needle in html, needle


def test_page_matches_strawberrys_apart_from_the_asset_urls() -> None:
    """Fails when an upgraded strawberry changes its page: re-copy it (see index.html's header)."""
    spec = importlib.util.find_spec("strawberry")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    upstream_path = pathlib.Path(spec.submodule_search_locations[0]) / "static" / "graphiql.html"
    upstream = upstream_path.read_text(encoding="utf-8")

    ours = re.sub(r"<!--\n  Copy of strawberry.*?-->\n", "", _template(), count=1, flags=re.DOTALL)
    upstream_urls = re.findall(r"""(?:src|href)="(https://unpkg\.com/[^"]+)\"""", upstream)
    assert len(upstream_urls) == len(EXPECTED_ASSETS)
    normalized = upstream
    for url in upstream_urls:
        normalized = normalized.replace(url, "ASSET")
    assert _PLACEHOLDER_REF.sub("ASSET", ours) == normalized


def test_static_url_trailing_slash_is_ignored() -> None:
    assert graphiql_html(static_url=f"{STATIC_URL}/") == graphiql_html(static_url=STATIC_URL)
    assert f'src="{STATIC_URL}/graphiql.min.js"' in graphiql_html(static_url=STATIC_URL)


@pytest.mark.parametrize("bad", ['/x"onload="alert(1)', "/x><script>", "/a b", "/x'y"])
def test_static_url_that_would_break_the_html_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="static_url"):
        graphiql_html(static_url=bad)
