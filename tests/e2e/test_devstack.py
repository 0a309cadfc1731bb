"""`make run`'s stack as a process: it seeds, writes stack.json, answers, and Ctrl-C stops it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from infra.local.emulator import emulator_client
from infra.local.seed import product_id
from tests.support.devstack import LocalStack, tokens_of
from tests.support.services import port_answers


def test_local_stack_serves_the_seeded_catalog_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    local = LocalStack(tmp_path)
    api_port, aws_port, rzp_port = local.ports
    local.start()
    try:
        stack = local.stack
        assert stack["graphql_url"] == f"http://127.0.0.1:{api_port}/graphql"
        assert stack["aws_endpoint_url"] == f"http://127.0.0.1:{aws_port}"
        rzp = stack["razorpay"]
        assert rzp["base_url"] == f"http://127.0.0.1:{rzp_port}"
        assert set(rzp) == {"base_url", "key_id", "key_secret", "webhook_secret"}
        # the app's keys are the emulator's Secrets Manager secret (API.md "Local stack
        # additions"), as in production; it is given none directly
        secrets = emulator_client(
            "secretsmanager", endpoint_url=stack["aws_endpoint_url"], region=stack["aws_region"]
        )
        secret = secrets.get_secret_value(SecretId=stack["secrets"]["razorpay"])
        assert json.loads(secret["SecretString"]) == {
            "key_id": rzp["key_id"],
            "key_secret": rzp["key_secret"],
            "webhook_secret": rzp["webhook_secret"],
            "webhook_secret_previous": "",
        }
        order = httpx.post(
            f"{rzp['base_url']}/v1/orders",
            json={"amount": 10_000, "currency": "INR", "receipt": "e2e"},
            auth=(rzp["key_id"], rzp["key_secret"]),
            timeout=10,
        ).json()
        assert order["status"] == "created"
        body = httpx.post(
            stack["graphql_url"],
            json={
                "query": "{ products(first: 100) { edges { node { sku category "
                "offers { code } } } } }"
            },
            timeout=10,
        ).json()
        nodes = [e["node"] for e in body["data"]["products"]["edges"]]
        assert len(nodes) >= 24 and len({n["category"] for n in nodes}) >= 4
        assert any(n["offers"] for n in nodes)
        assert {u["username"] for u in stack["users"]} >= {"asha", "ravi", "admin"}
        admin = next(u for u in stack["users"] if "admin" in u["groups"])
        token = tokens_of(stack, admin["username"])["AccessToken"]
        viewer = httpx.post(
            stack["graphql_url"],
            json={"query": "{ viewer { username groups } }"},
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert viewer["data"]["viewer"] == {"username": admin["username"], "groups": ["admin"]}
        assert pay_through_the_stack(stack, token=token) == "PAID"
        page = httpx.get(stack["graphql_url"], headers={"accept": "text/html"}, timeout=10)
        assert "graphiql" in page.text.lower()
        # the stack's demo users are offered in GraphiQL, signing in against its emulator
        assert "Sign in as a demo user" in page.text and admin["password"] in page.text
        csp = page.headers["content-security-policy"]
        assert f"connect-src 'self' {stack['aws_endpoint_url']};" in csp
        assert httpx.get(f"http://127.0.0.1:{aws_port}/moto-api/", timeout=10).status_code == 200
    finally:
        code = local.stop()
    assert code == 0
    assert not port_answers("127.0.0.1", api_port)
    assert not port_answers("127.0.0.1", aws_port)
    assert not port_answers("127.0.0.1", rzp_port)
    check_what_the_terminal_showed(local.output, stack=stack, state_dir=tmp_path)


def check_what_the_terminal_showed(output: str, *, stack: dict[str, Any], state_dir: Path) -> None:
    """Where everything is, the demo users, "Ctrl-C stops"; then the app's own lines only:
    the emulator's and the sandbox's access lines are in their logs in the state directory."""
    lines = output.splitlines()
    banner_at = lines.index("Local stack is up")
    shown = {line.strip().split("  ", 1)[0]: line for line in lines[banner_at:] if line}
    assert shown["Storefront"].split()[-1] == stack["storefront_url"]
    assert stack["storefront_url"].endswith("/shop/")
    assert shown["GraphiQL"].split()[-1] == stack["graphql_url"]
    emulator_log, sandbox_log = state_dir / "emulator.log", state_dir / "razorpay-sandbox.log"
    assert shown["AWS emulator"].split()[2:] == [
        stack["aws_endpoint_url"],
        "log:",
        str(emulator_log),
    ]
    assert shown["Razorpay sandbox"].split()[2:] == [
        stack["razorpay"]["base_url"],
        "log:",
        str(sandbox_log),
    ]
    assert shown["Database"].split()[1:] == ["SQLite,", str(state_dir / "storefront.db")]
    for user in stack["users"]:
        assert shown[user["username"]].split() == [
            user["username"],
            user["password"],
            ", ".join(user["groups"]) or "-",
        ]
    assert "Ctrl-C stops" in lines[banner_at:]
    assert lines[-1] == "Local stack stopped."
    # aligned: every row's value starts in the same column
    rows = ("Storefront", "GraphiQL", "AWS emulator", "Razorpay sandbox", "Database")
    columns = {row: len(shown[row]) - len(shown[row].split(row, 1)[1].lstrip()) for row in rows}
    assert len(set(columns.values())) == 1, columns

    # the app's own access lines stay in the terminal; nobody else's
    assert '"POST /graphql HTTP/1.1" 200' in output
    assert "werkzeug" not in output and '"POST / HTTP/1.1"' not in output
    assert "/v1/orders" not in output and "/_sandbox/" not in output
    assert '"_aws"' not in output  # the EMF metrics are in metrics.log
    assert "Found credentials" not in output and "HTTP Request:" not in output  # chatter
    # …and went to their own files
    emulator_lines = emulator_log.read_text()
    assert '"POST / HTTP/1.1" 200' in emulator_lines and "\x1b[" not in emulator_lines
    sandbox_lines = sandbox_log.read_text()
    assert '"POST /v1/orders HTTP/1.1" 200' in sandbox_lines
    assert "/_sandbox/orders/" in sandbox_lines and "/pay HTTP/1.1" in sandbox_lines
    assert '"OperationLatency"' in (state_dir / "metrics.log").read_text()


def pay_through_the_stack(stack: dict[str, Any], *, token: str) -> str:
    """A storefront's whole checkout against the running stack and its Razorpay sandbox."""
    headers = {"authorization": f"Bearer {token}"}

    def gql(query: str, **variables: Any) -> Any:
        body = httpx.post(
            stack["graphql_url"],
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=30,
        ).json()
        assert "errors" not in body, body
        return body["data"]

    dal = str(product_id("GRO-DAL-002"))
    gql(
        "mutation($l: [CartLineInput!]!) { cartLinesAdd(lines: $l) { errors { code } } }",
        l=[{"productId": dal, "quantity": 1}],
    )
    created = gql(
        "mutation($k: String!) { paymentSessionCreate(input: {idempotencyKey: $k}) {"
        " paymentSession { id razorpayOrderId } errors { code } } }",
        k="devstack-e2e-0001",
    )["paymentSessionCreate"]
    session = created["paymentSession"]
    paid = httpx.post(
        f"{stack['razorpay']['base_url']}/_sandbox/orders/{session['razorpayOrderId']}/pay",
        json={"outcome": "success", "method": "upi"},
        timeout=30,
    ).json()
    verified = gql(
        "mutation($i: PaymentSessionVerifyInput!) { paymentSessionVerify(input: $i) {"
        " paymentSession { status } errors { code } } }",
        i={
            "paymentSessionId": session["id"],
            "razorpayOrderId": paid["razorpay_order_id"],
            "razorpayPaymentId": paid["razorpay_payment_id"],
            "razorpaySignature": paid["razorpay_signature"],
        },
    )["paymentSessionVerify"]
    status: str = verified["paymentSession"]["status"]
    return status
