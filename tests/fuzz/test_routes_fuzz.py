"""The routes that are not GraphQL, and GraphQL's HTTP layer, fuzzed with random bodies and
headers: the webhook (unsigned, wrongly signed, and signed random events, so the parser behind
the signature is reached), the checkout callback (random forms, and forms signed with the key
secret for random ids), and ``/graphql`` with bytes, content types and methods a client may
send. Nothing answers a server error; every JSON route answers JSON with its request id.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from app.settings import Settings
from domain.signatures import checkout_signature, hmac_sha256_hex
from tests.fuzz.test_graphql_fuzz import JSON, TEXT, examples
from tests.support.fuzz import Tally, check_callback_answer, check_json_answer, check_webhook_answer
from tests.support.stack import RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET

# what an HTTP header can carry (h11 refuses leading or trailing blanks)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200).map(
    str.strip
)
CONTENT_TYPES = (
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/graphql-response+json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "multipart/form-data",
            "text/plain",
            "application/octet-stream",
            "",
        ]
    )
    | HEADER_TEXT
)
EVENTS = st.sampled_from(
    [
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "order.paid",
        "refund.processed",
        "refund.failed",
        "refund.created",
        "payment.dispute.created",
    ]
) | st.text(max_size=40)
ENTITY = st.fixed_dictionaries(
    {},
    optional={
        "id": TEXT,
        "entity": TEXT,
        "order_id": TEXT,
        "payment_id": TEXT,
        "amount": JSON,
        "amount_refunded": JSON,
        "currency": TEXT,
        "status": st.sampled_from(["captured", "authorized", "failed", "processed", "paid"]) | TEXT,
        "captured": JSON,
        "notes": JSON,
        "created_at": JSON,
        "error_code": TEXT,
    },
)
EVENT_BODY = st.fixed_dictionaries(
    {"event": EVENTS},
    optional={
        "entity": st.just("event") | TEXT,
        "account_id": TEXT,
        "contains": JSON,
        "created_at": JSON,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                k: st.fixed_dictionaries({"entity": ENTITY}) | JSON
                for k in ("payment", "order", "refund")
            },
        )
        | JSON,
    },
).map(lambda body: json.dumps(body).encode())
BODY = st.binary(max_size=4096) | EVENT_BODY | JSON.map(lambda v: json.dumps(v).encode())


@examples(150)
@given(data=st.data())
def test_webhook_route_with_random_bodies_and_headers(
    data: st.DataObject, http: httpx.Client, tally: Tally
) -> None:
    body = data.draw(BODY, label="body")
    how = data.draw(st.sampled_from(["signed", "wrongly signed", "unsigned", "random"]))
    headers: dict[str, str] = {"content-type": data.draw(CONTENT_TYPES, label="content-type")}
    if how == "signed":
        headers["x-razorpay-signature"] = hmac_sha256_hex(RAZORPAY_WEBHOOK_SECRET, body)
    elif how == "wrongly signed":
        headers["x-razorpay-signature"] = hmac_sha256_hex("not-the-secret", body)
    elif how == "random":
        headers["x-razorpay-signature"] = data.draw(HEADER_TEXT, label="signature")
    event_id = data.draw(st.none() | HEADER_TEXT, label="event id")
    if event_id is not None:
        headers["x-razorpay-event-id"] = event_id
    response = http.post("/webhooks/razorpay", content=body, headers=headers)
    check_webhook_answer(response, {"body": body, "headers": headers})
    tally.note(f"webhook {how}", response, [])


FIELD_NAMES = st.sampled_from(
    [
        "razorpay_order_id",
        "razorpay_payment_id",
        "razorpay_signature",
        "error[code]",
        "error[description]",
        "error[reason]",
        "error[metadata]",
    ]
) | st.text(max_size=30)


@examples(150)
@given(data=st.data())
def test_checkout_callback_with_random_forms(
    data: st.DataObject, http: httpx.Client, settings: Settings, tally: Tally
) -> None:
    pages = (settings.storefront_success_url, settings.storefront_failure_url)
    how = data.draw(st.sampled_from(["form", "signed form", "raw body"]), label="how")
    sent: Any
    if how == "raw body":
        content_type = data.draw(CONTENT_TYPES, label="content-type")
        body = data.draw(BODY, label="body")
        sent = {"content-type": content_type, "body": body}
        response = http.post(
            "/payments/razorpay/callback", content=body, headers={"content-type": content_type}
        )
    else:
        form = data.draw(st.dictionaries(FIELD_NAMES, TEXT, max_size=8), label="form")
        if how == "signed form":
            order_id = data.draw(TEXT | st.just("order_" + "A" * 14), label="order id")
            payment_id = data.draw(TEXT, label="payment id")
            form |= {
                "razorpay_order_id": order_id,
                "razorpay_payment_id": payment_id,
                "razorpay_signature": checkout_signature(
                    key_secret=RAZORPAY_KEY_SECRET, order_id=order_id, payment_id=payment_id
                ),
            }
        sent = form
        response = http.post("/payments/razorpay/callback", data=form)
    check_callback_answer(response, sent, pages=pages)
    tally.note(f"callback {how}", response, [])


METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
PATHS = st.sampled_from(["/graphql", "/graphql/", "/", "/nope", "/static/graphiql/x.js"]) | (
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(
        lambda p: "/" + p.lstrip("/")
    )
)


@examples(200)
@given(data=st.data())
def test_graphql_http_layer_with_random_bytes_methods_and_headers(
    data: st.DataObject, http: httpx.Client, tally: Tally
) -> None:
    method = data.draw(METHODS, label="method")
    path = data.draw(PATHS, label="path")
    headers = {
        "content-type": data.draw(CONTENT_TYPES, label="content-type"),
        "accept": data.draw(
            st.sampled_from(
                ["application/json", "application/graphql-response+json", "*/*", "text/html", ""]
            )
            | HEADER_TEXT,
            label="accept",
        ),
    }
    if data.draw(st.booleans(), label="with a bogus token"):
        headers["authorization"] = ("Bearer " + data.draw(HEADER_TEXT, label="token")).strip()
    body = data.draw(BODY, label="body")
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["query", "variables", "operationName", "extensions"])
            | st.text(max_size=10),
            TEXT,
            max_size=4,
        ),
        label="params",
    )
    response = http.request(method, path, content=body, headers=headers, params=params)
    sent = {"method": method, "path": path, "headers": headers, "params": params, "body": body}
    if method == "HEAD":
        assert response.status_code < 500, sent
        return
    if response.status_code == 200 and "text/html" in response.headers.get("content-type", ""):
        tally.note(f"http {method} html", response, [])  # GraphiQL, for a browser
        return
    if path.startswith("/static/") and response.status_code == 200:
        tally.note(f"http {method} static", response, [])
        return
    if response.status_code == 200 and path in {"/healthz", "/readyz"}:
        return
    if response.status_code in {301, 302, 303, 307, 308}:  # Starlette's trailing slash
        assert response.headers["location"].startswith("http://127.0.0.1"), sent
        tally.note(f"http {method} redirect", response, [])
        return
    codes = check_json_answer(response, sent)
    tally.note(f"http {method}", response, codes)
