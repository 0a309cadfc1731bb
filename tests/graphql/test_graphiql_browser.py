"""GraphiQL in a real browser (Debian's Chromium through Playwright), under its own CSP: the
page opens on the catalog, "Sign in as a demo user" signs in against the emulator's Cognito
and fills the Authorization header, and a query then runs as that user."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.async_api import Page, async_playwright, expect

from app.container import Container
from app.main import create_app
from app.settings import Settings
from infra.local.cognito import CognitoStack
from infra.local.razorpay_sandbox.server import ThreadedServer

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def graphiql_url(settings: Settings, cognito: CognitoStack) -> Iterator[str]:
    """The app with the local stack's demo users, over HTTP on loopback (a browser needs a
    real server); its container (engine, Redis) lives on the server's own loop."""
    users = json.dumps(cognito.as_json()["users"])
    container = Container(settings.model_copy(update={"graphiql_demo_users": users}))
    with ThreadedServer(create_app(container)) as server:  # its lifespan closes the container
        yield f"{server.base_url}/graphql"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            page.set_default_timeout(10_000)
            yield page
        finally:
            await browser.close()


async def persisted_headers_hold(page: Page, text: str, *, seconds: float = 5.0) -> None:
    """GraphiQL keeps the headers in localStorage (shouldPersistHeaders), half a second after
    an edit. Polled from here: the page's CSP refuses Playwright's eval'd wait_for_function."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        stored = await page.evaluate("() => localStorage.getItem('graphiql:headers')")
        if stored and text in stored:
            return
        assert asyncio.get_running_loop().time() < deadline, f"headers kept: {stored!r}"
        await asyncio.sleep(0.05)


async def test_sign_in_as_a_demo_user_then_run_a_query_as_them(
    page: Page, graphiql_url: str
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )

    await page.goto(graphiql_url)
    query_editor = page.locator(".graphiql-query-editor .CodeMirror-code")
    await expect(query_editor).to_contain_text("query Catalog {")
    await expect(query_editor).to_contain_text("Sign in as a demo user")
    helper = page.get_by_role("group", name="Sign in as a demo user")
    await expect(helper).to_be_visible()
    options = await helper.locator("select option").all_inner_texts()
    assert options == ["asha", "ravi", "admin (admin)"]

    # asha signs in: the token lands in the Headers editor (GraphiQL keeps it across reloads)
    await helper.locator("select").select_option("asha")
    await helper.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.locator("#demo-sign-in-status")).to_have_text("signed in as asha")
    headers = page.locator(".graphiql-editor-tool .CodeMirror-code").last
    await expect(headers).to_contain_text('"Authorization": "Bearer ey')

    await persisted_headers_hold(page, "Bearer ey")

    # a new query (a new tab) takes the kept headers, and runs as asha
    await page.goto(graphiql_url + "?q=" + quote("{ viewer { username } }"))
    await expect(headers).to_contain_text('"Authorization": "Bearer ey')
    await page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response .CodeMirror-code")
    await expect(response).to_contain_text(re.compile(r'"username":\s*"asha"'))

    # signing out takes the header away again: viewer is refused
    await helper.get_by_role("button", name="Sign out", exact=True).click()
    await expect(headers).not_to_contain_text("Authorization")
    await page.locator(".graphiql-execute-button").click()
    await expect(response).to_contain_text("UNAUTHENTICATED")
    assert problems == []  # nothing refused by the CSP, no script error
