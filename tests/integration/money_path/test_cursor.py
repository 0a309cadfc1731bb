"""Issue 9 defect 11: a crafted ``paymentSessions(after:)`` cursor is INVALID_INPUT.

API.md: every error answer is typed; a malformed argument is ``INVALID_INPUT``, never an
internal error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.integration.money_path.support import cursor
from tests.support.stack import Stack

Headers = dict[str, str]
PAGE = """query($after: String) { paymentSessions(first: 5, after: $after) {
  edges { node { id } } } }"""


async def test_a_cursor_with_an_unrepresentable_timestamp_is_invalid_input(
    private_stack: Stack, new_customer: Callable[..., Headers]
) -> None:
    """Defect 11. ``after`` = the API's cursor encoding of
    ``0001-01-01T00:00:00+14:00|<uuid>``: errors[0].extensions.code is INVALID_INPUT."""
    crafted = cursor(f"0001-01-01T00:00:00+14:00|{uuid.uuid4()}")
    body = await private_stack.gql(PAGE, {"after": crafted}, headers=new_customer())
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT", errors
