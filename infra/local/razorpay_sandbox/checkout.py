"""Hosted Checkout: ``POST /v1/checkout/embedded`` and its Pay / Fail / Cancel buttons.

The buttons post back to the sandbox, which performs the payment server-side and answers a
page that form-posts the result to ``callback_url`` (auto-submitted by a script, with a
button for clients without JavaScript), exactly the fields Razorpay posts.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from infra.local.razorpay_sandbox.api import sandbox_of
from infra.local.razorpay_sandbox.errors import ApiError
from infra.local.razorpay_sandbox.runtime import CheckoutSession, error_metadata_json
from infra.local.razorpay_sandbox.store import Attempt

METHODS = ("upi", "card", "netbanking", "wallet")
CANCELLED = {
    "code": "BAD_REQUEST_ERROR",
    "description": "Payment processing cancelled by user",
    "source": "customer",
    "step": "payment_authentication",
    "reason": "payment_cancelled",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}
button{{margin:.3rem;padding:.5rem 1rem}}</style></head>
<body>{body}</body></html>
"""


def _page(*, title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _error_page(message: str, *, status: int = 400) -> HTMLResponse:
    return _page(
        title="Payment failed", body=f"<h1>Error</h1><p>{escape(message)}</p>", status=status
    )


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def _auto_post(*, url: str, fields: dict[str, str], method: str = "post") -> HTMLResponse:
    body = (
        f'<p>Redirecting to the merchant…</p><form id="rzp-callback" method="{method}" '
        f'action="{escape(url)}">{_hidden(fields)}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('rzp-callback').submit()</script>"
    )
    return _page(title="Redirecting", body=body)


async def open_checkout(request: Request) -> Response:
    sandbox = sandbox_of(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    if form.get("key_id") != sandbox.config.key_id:
        return _error_page("The api key provided is invalid", status=401)
    if not form.get("callback_url"):
        return _error_page("callback_url is required")
    try:
        order = sandbox.store.order(form.get("order_id", ""))
    except ApiError as exc:
        return _error_page(exc.description)
    if order["status"] == "paid":
        return _error_page("This order has already been paid")
    session = sandbox.open_checkout(order_id=order["id"], form=form)
    amount = f"{order['currency']} {order['amount'] // 100}.{order['amount'] % 100:02d}"
    methods = "".join(f'<option value="{m}">{m}</option>' for m in METHODS)
    action = f"/v1/checkout/embedded/{session.id}"
    body = (
        f"<h1>{escape(form.get('name') or 'Razorpay Sandbox')}</h1>"
        f"<p>{escape(form.get('description') or '')}</p>"
        f'<p>Amount: <strong id="amount">{escape(amount)}</strong> '
        f'· Order <code id="order">{escape(order["id"])}</code></p>'
        f'<form method="post" action="{action}/pay"><label>Method '
        f'<select name="method">{methods}</select></label>'
        '<button type="submit" name="action" value="pay">Pay</button></form>'
        f'<form method="post" action="{action}/fail">'
        '<input type="hidden" name="method" value="upi">'
        '<button type="submit" name="action" value="fail">Fail</button></form>'
        f'<form method="post" action="{action}/cancel">'
        '<button type="submit" name="action" value="cancel">Cancel</button></form>'
    )
    return _page(title="Razorpay Checkout (sandbox)", body=body)


async def checkout_action(request: Request) -> Response:
    sandbox = sandbox_of(request)
    session = sandbox.checkouts.get(request.path_params["session"])
    if session is None:
        return _error_page("This checkout session does not exist", status=404)
    action = request.path_params["action"]
    if action not in ("pay", "fail", "cancel"):
        return _error_page(f"Unknown action {action}", status=404)
    form = await request.form()
    method = str(form.get("method") or "upi")
    if method not in METHODS:
        return _error_page(f"Unknown method {method}")
    if action == "cancel" and session.cancel_url:
        return RedirectResponse(session.cancel_url, status_code=303)
    attempt = _attempt(session, action=action, method=method)
    try:
        _, result = sandbox.pay(order_id=session.order_id, attempt=attempt)
    except ApiError as exc:
        return _error_page(exc.description)
    if "error" in result:
        error = result["error"]
        fields = {f"error[{k}]": str(error[k]) for k in ("code", "description", "source")}
        fields |= {f"error[{k}]": str(error[k]) for k in ("step", "reason")}
        fields["error[metadata]"] = error_metadata_json(result)
    else:
        fields = {k: str(v) for k, v in result.items()}
    return _auto_post(url=session.callback_url, fields=fields)


def _attempt(session: CheckoutSession, *, action: str, method: str) -> Attempt:
    notes = {
        key[len("notes[") : -1]: value
        for key, value in session.fields.items()
        if key.startswith("notes[") and key.endswith("]")
    }
    return Attempt(
        success=action == "pay",
        method=method,
        email=session.email,
        contact=session.contact,
        error=CANCELLED if action == "cancel" else None,
        notes=notes,
    )


def checkout_routes() -> list[Route]:
    return [
        Route("/v1/checkout/embedded", open_checkout, methods=["POST"]),
        Route(
            "/v1/checkout/embedded/{session}/{action:str}",
            checkout_action,
            methods=["POST"],
        ),
    ]
