"""GraphiQL page served with the app's own copies of its assets (works without internet access).

``static/graphiql/index.html`` is strawberry's GraphiQL page with each unpkg.com URL replaced by
``{{ static_url }}/<file>``; the directory holds those files, unchanged from the npm registry.
The app serves the directory at some URL prefix and passes that prefix as ``static_url``.

Two things are added when the page is rendered (the template stays strawberry's):

* the query the editor opens with (:data:`DEFAULT_QUERY`, the catalog), in place of
  strawberry's welcome text;
* locally only, the "Sign in as a demo user" helper (:class:`DemoSignIn`): pick a demo user of
  the local stack, the page signs in against the AWS emulator's Cognito (USER_PASSWORD_AUTH,
  as a storefront would) and puts ``{"Authorization": "Bearer <IdToken>"}`` into GraphiQL's
  Headers editor (the ID token, as the storefront sends: it carries the e-mail and phone that
  Checkout's prefill and the notifications use). Its script is inline and allowed by its hash
  like the page's own (:func:`graphiql_csp`); the users are a JSON data block, which never
  runs.
  :func:`graphiql_page` turns it on only outside production, when the local stack gave demo
  users (``GRAPHIQL_DEMO_USERS``) and an emulator endpoint.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import pathlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = [
    "DEFAULT_QUERY",
    "GRAPHIQL_STATIC_DIR",
    "STATIC_URL_PLACEHOLDER",
    "DemoSignIn",
    "DemoUser",
    "demo_sign_in_of",
    "graphiql_csp",
    "graphiql_html",
    "graphiql_page",
]

_APP_DIR: Final = pathlib.Path(__file__).resolve().parent
GRAPHIQL_STATIC_DIR: Final[pathlib.Path] = _APP_DIR / "static" / "graphiql"
STATIC_URL_PLACEHOLDER: Final = "{{ static_url }}"

# static_url goes into HTML attribute values unescaped: refuse anything that could break out.
_FORBIDDEN_IN_STATIC_URL: Final = frozenset("\"'<>&` \t\r\n\\")

_CATALOG_QUERY: Final = """\
query Catalog {
  products(first: 10) {
    edges {
      node {
        id
        title
        category
        price { formatted }
        gstRateBp
        stock
        offers { code description }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
# comment lines short enough for the editor's width on a laptop (about 55 characters)
_RUN_HINT: Final = "# The catalog, as anyone may see it: Ctrl-Enter runs it.\n"
_SIGN_IN_HINT: Final = (
    "# Signed-in fields (viewer, cart…) need a Cognito token:\n"
    '# Headers below: {"Authorization": "Bearer <token>"}\n'
)
_DEMO_SIGN_IN_HINT: Final = (
    '# To sign in, pick a user in "Sign in as a demo user"\n'
    "# (bottom right): it puts the token in Headers below.\n"
)
DEFAULT_QUERY: Final = _RUN_HINT + _SIGN_IN_HINT + _CATALOG_QUERY
_DEMO_DEFAULT_QUERY: Final = _RUN_HINT + _DEMO_SIGN_IN_HINT + _CATALOG_QUERY

# strawberry's page opens with this text (when the URL brings no ?q=)
_EXAMPLE_QUERY: Final = re.compile(r"const EXAMPLE_QUERY = `.*?`;", re.DOTALL)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str  # a demo user's: not a secret (.devstack/stack.json lists it)
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoSignIn:
    """What the page needs to sign a demo user in against the emulator's Cognito."""

    endpoint_url: str  # the emulator (moto answers Cognito's JSON API at its root, with CORS)
    client_id: str  # the user pool's app client (USER_PASSWORD_AUTH allowed)
    users: tuple[DemoUser, ...]

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"not an http(s) endpoint: {self.endpoint_url!r}")
        if not self.client_id or not self.users:
            raise ValueError("the demo sign-in needs an app client id and at least one user")

    @property
    def origin(self) -> str:
        """The endpoint's origin, for the page's ``connect-src``."""
        parts = urlsplit(self.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"

    def as_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint_url,
            "clientId": self.client_id,
            "users": [
                {"username": u.username, "password": u.password, "groups": list(u.groups)}
                for u in self.users
            ],
        }


def parse_demo_users(text: str) -> tuple[DemoUser, ...]:
    """``GRAPHIQL_DEMO_USERS``: a JSON list of ``{"username", "password", "groups"}`` (the
    shape of stack.json's ``users``); empty text: none. Raises ``ValueError`` on anything else."""
    if not text.strip():
        return ()
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"GRAPHIQL_DEMO_USERS is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError("GRAPHIQL_DEMO_USERS must be a JSON list of users")
    users = []
    for item in items:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("username"), str)
            and item["username"]
            and isinstance(item.get("password"), str)
            and isinstance(item.get("groups", []), list)
            and all(isinstance(g, str) for g in item.get("groups", []))
        ):
            raise ValueError(
                'GRAPHIQL_DEMO_USERS: each user is {"username", "password", "groups": [...]}'
            )
        users.append(DemoUser(item["username"], item["password"], tuple(item.get("groups", []))))
    return tuple(users)


def demo_sign_in_of(settings: Settings) -> DemoSignIn | None:
    """The demo sign-in helper for these settings, or None: never in production, and only
    when the local stack named demo users, the emulator's endpoint and an app client."""
    if settings.environment == "production":
        return None
    users = parse_demo_users(settings.graphiql_demo_users)
    if not users or not settings.aws_endpoint_url or not settings.client_ids:
        return None
    return DemoSignIn(
        endpoint_url=settings.aws_endpoint_url, client_id=settings.client_ids[0], users=users
    )


@functools.cache
def _template() -> str:
    return (GRAPHIQL_STATIC_DIR / "index.html").read_text(encoding="utf-8")


def _script_safe_json(value: object) -> str:
    """JSON that cannot end the ``<script>`` element it sits in, nor open a comment there."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_html(
    *,
    static_url: str,
    default_query: str | None = None,
    demo_sign_in: DemoSignIn | None = None,
) -> str:
    """The GraphiQL page, loading its assets from ``static_url`` (e.g. ``/static/graphiql``).

    The editor opens with ``default_query`` (None: :data:`DEFAULT_QUERY`, or its variant
    naming the helper when ``demo_sign_in`` is given). With ``demo_sign_in`` the page also
    has the "Sign in as a demo user" helper.

    A trailing ``/`` on ``static_url`` is ignored. Raises ``ValueError`` if ``static_url``
    contains quotes, angle brackets, ``&``, backslashes or whitespace.
    """
    bad = _FORBIDDEN_IN_STATIC_URL.intersection(static_url)
    if bad:
        raise ValueError(f"static_url contains forbidden characters {sorted(bad)!r}")
    html = _template().replace(STATIC_URL_PLACEHOLDER, static_url.rstrip("/"))
    if default_query is None:
        default_query = DEFAULT_QUERY if demo_sign_in is None else _DEMO_DEFAULT_QUERY
    statement = f"const EXAMPLE_QUERY = {_script_safe_json(default_query)};"
    html, found = _EXAMPLE_QUERY.subn(lambda _: statement, html, count=1)
    if found != 1:
        raise RuntimeError("index.html no longer has strawberry's EXAMPLE_QUERY: re-check it")
    if demo_sign_in is not None:
        helper = (
            f'    <script type="application/json" id="{_DEMO_CONFIG_ID}">'
            f"{_script_safe_json(demo_sign_in.as_json())}</script>\n"
            f"    <script>{_DEMO_SIGN_IN_SCRIPT}</script>\n"
        )
        head, sep, tail = html.rpartition("</body>")
        if not sep:
            raise RuntimeError("index.html has no </body>")
        html = head + helper + sep + tail
    return html


_INLINE_SCRIPT: Final = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_scripts(html: str) -> list[str]:
    """The text of each ``<script>`` without attributes (no ``src``) in ``html``."""
    return _INLINE_SCRIPT.findall(html)


def graphiql_csp(html: str, *, connect_src: Sequence[str] = ()) -> str:
    """The Content-Security-Policy the GraphiQL page ``html`` works under: scripts only from
    the app itself and the page's own inline scripts (by their hashes: no other inline script
    runs, nothing is eval'd); styles from the app and inline ones (GraphiQL sets element
    styles; CSS runs no code); images and fonts from the app or data: URLs (the favicon, the
    CSS's fonts); requests only to the app itself, and to the origins in ``connect_src`` (the
    demo sign-in's emulator); never framed."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
        for s in inline_scripts(html)
    )
    for origin in connect_src:
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
            raise ValueError(f"not an origin: {origin!r}")
    connect = " ".join(["'self'", *connect_src])
    return (
        "default-src 'none'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; font-src 'self' data:; connect-src {connect}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def graphiql_page(settings: Settings, *, static_url: str) -> tuple[str, str] | None:
    """The page and its CSP for these settings, or None when GraphiQL is off."""
    if not settings.graphiql_enabled:
        return None
    demo = demo_sign_in_of(settings)
    html = graphiql_html(static_url=static_url, demo_sign_in=demo)
    return html, graphiql_csp(html, connect_src=[demo.origin] if demo else [])


_DEMO_CONFIG_ID: Final = "graphiql-demo-sign-in"

# The helper: a small panel over GraphiQL's bottom right corner. It reads the users from the data
# block above, signs in with Cognito's InitiateAuth (the emulator answers with CORS), and sets
# the Authorization header in GraphiQL's Headers editor (CodeMirror 5: its wrapper element
# holds the editor), which GraphiQL then keeps (shouldPersistHeaders) and sends.
_DEMO_SIGN_IN_SCRIPT: Final = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("__CONFIG_ID__").textContent);

  function el(tag, props, style) {
    var node = document.createElement(tag);
    Object.assign(node, props || {});
    Object.assign(node.style, style || {});
    return node;
  }

  var panel = el("div", { id: "demo-sign-in", role: "group" }, {
    position: "fixed", right: "24px", bottom: "24px", zIndex: "10", display: "flex",
    alignItems: "center", gap: "6px", padding: "8px 10px", borderRadius: "8px",
    background: "#fff", color: "#3b4b68", border: "1px solid rgba(59, 75, 104, 0.15)",
    boxShadow: "0 6px 20px rgba(59, 75, 104, 0.15)", font: "13px system-ui, sans-serif"
  });
  panel.setAttribute("aria-label", "Sign in as a demo user");
  var label = el("label", { htmlFor: "demo-sign-in-user", textContent: "Sign in as a demo user" });
  var select = el("select", { id: "demo-sign-in-user" });
  config.users.forEach(function (user) {
    var groups = user.groups.length ? " (" + user.groups.join(", ") + ")" : "";
    select.appendChild(el("option", { value: user.username, textContent: user.username + groups }));
  });
  var button = el("button", { type: "button", id: "demo-sign-in-button" });
  button.textContent = "Sign in";
  var signOut = el("button", { type: "button", id: "demo-sign-out-button" });
  signOut.textContent = "Sign out";
  var status = el("output", { id: "demo-sign-in-status" }, { minWidth: "1em" });
  [label, select, button, signOut, status].forEach(function (n) { panel.appendChild(n); });
  document.body.appendChild(panel);

  // GraphiQL's Headers editor: the second editor under the query (Variables is the first),
  // shown by its tab. Its CodeMirror 5 instance hangs off the editor's wrapper element.
  function headersEditor() {
    var tab = document.querySelector('.graphiql-editor-tools button[data-name="headers"]');
    if (tab && !tab.classList.contains("active")) tab.click();
    var editors = document.querySelectorAll(".graphiql-editor-tool > .graphiql-editor");
    var wrapper = editors.length === 2 ? editors[1].querySelector(".CodeMirror") : null;
    return wrapper && wrapper.CodeMirror ? wrapper.CodeMirror : null;
  }

  function setAuthorization(value) {
    var editor = headersEditor();
    if (!editor) throw new Error("GraphiQL's Headers editor is not there yet");
    var headers = {};
    try {
      var current = JSON.parse(editor.getValue() || "{}");
      if (current && typeof current === "object" && !Array.isArray(current)) headers = current;
    } catch (e) { /* not JSON yet: replaced */ }
    Object.keys(headers).forEach(function (name) {
      if (name.toLowerCase() === "authorization") delete headers[name];
    });
    if (value) headers.Authorization = value;
    editor.setValue(Object.keys(headers).length ? JSON.stringify(headers, null, 2) : "");
  }

  function say(text) { status.textContent = text; }

  button.addEventListener("click", function () {
    var user = config.users.filter(function (u) { return u.username === select.value; })[0];
    button.disabled = true;
    say("signing in…");
    fetch(config.endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"
      },
      body: JSON.stringify({
        AuthFlow: "USER_PASSWORD_AUTH",
        ClientId: config.clientId,
        AuthParameters: { USERNAME: user.username, PASSWORD: user.password }
      })
    }).then(function (response) {
      return response.json().then(function (body) {
        var result = body && body.AuthenticationResult;
        if (!response.ok || !result || !result.IdToken) {
          throw new Error((body && (body.message || body.__type)) || "HTTP " + response.status);
        }
        setAuthorization("Bearer " + result.IdToken);
        say("signed in as " + user.username);
      });
    }).catch(function (error) {
      say("sign-in failed: " + error.message);
    }).then(function () {
      button.disabled = false;
    });
  });

  signOut.addEventListener("click", function () {
    try {
      setAuthorization(null);
      say("signed out");
    } catch (error) {
      say(error.message);
    }
  });
})();
""".replace("__CONFIG_ID__", _DEMO_CONFIG_ID)
