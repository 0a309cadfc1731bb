"""The storm, extended (issue 9, "Checked by"): over a thousand webhook deliveries for a few
hundred sessions, 30 % of them duplicates, shuffled, sent concurrently while the sandbox's
Razorpay API answers every call 3 s late, with:

* refunds (made at Razorpay, as from its dashboard) delivered before their captures, and
  second partial refunds;
* late captures on cancelled sessions whose last unit or coupon use went to someone else
  (they must be refunded in full, automatically), and on cancelled sessions nobody competed
  with (they must become PAID, for review);
* payments that failed, first attempts that failed before a success;
* bad signatures mixed in (forged, wrong secret, missing, a tampered body).

A delivery not answered within ``CUT_OFF`` seconds is cut off (as the function's timeout would;
shorter here to keep the run short) and, like one answered 5xx, retried afterwards as Razorpay
retries. Afterwards the jobs run until the outbox is empty, and the webhooks Razorpay sends
about what the app did (its own refunds) are delivered too.

Expected: no session in a wrong state; ``refundedAmount`` equals Razorpay's
``amount_refunded`` for every session; the dashboard exact to the paisa; each notification
published once; no stock below 0 and nothing sold beyond it; no coupon used beyond its limits.

The webhook answer times (first attempts) are printed, p50 and p99; with ``STORM_REPORT=1``
they are also written to ``bench/results/webhook_storm.md``. Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import platform
import random
import secrets
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.settings import Settings
from domain.signatures import hmac_sha256_hex
from infra.local.emulator import EmulatorProcess
from infra.local.razorpay_sandbox import SandboxServer
from infra.local.razorpay_sandbox.control_client import SandboxControl
from infra.local.razorpay_sandbox.testing import Received, WebhookReceiver
from tests.support.jobs import run_jobs_until_outbox_empty
from tests.support.payments_flow import own_product
from tests.support.published import Published, dashboard_totals, drain, repeated
from tests.support.services import free_port
from tests.support.shop import CANCEL, data
from tests.support.stack import (
    RAZORPAY_KEY_ID,
    RAZORPAY_KEY_SECRET,
    Databases,
    GraphQLClient,
    Stack,
    asyncpg_dsn,
    open_stack,
    own_settings,
)

Headers = dict[str, str]

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "bench" / "results" / "webhook_storm.md"
SLOW_RAZORPAY = 3.0  # seconds the sandbox waits before answering any /v1 call, during the storm
CUT_OFF = 10.0  # seconds a delivery may take before it is cut off (and retried later)
CONCURRENCY = 48
DUPLICATE_SHARE = 0.30
LATE_REFUND_REASON = "late payment: could not be fulfilled"
PAID_LIKE = ("PAID", "PARTIALLY_REFUNDED", "REFUNDED")

SESSION_FIELDS = """id status amount { amount } couponCode refundedAmount { amount }
  lines { quantity } refunds { amount { amount } status reason }"""
PRODUCT = "query($id: ID!) { product(id: $id) { stock } }"
PRODUCT_ON_HAND = "query($id: ID!) { product(id: $id) { stock stockOnHand } }"
OFFER_UPSERT = """mutation($input: OfferInput!) {
  offerUpsert(input: $input) { offer { id code } errors { code message } } }"""

FAILURES_TODAY = (
    "issue 9 defects 2-4 on today's main: refunds delivered before their captures are answered "
    "'not ours' and lost (the sessions end PAID with refundedAmount 0 while Razorpay refunded), "
    "a second partial refund is not saved, late captures on cancelled sessions become PAID past "
    "the coupon limits and beyond the last unit instead of being refunded; so the dashboard, "
    "the stock and the 'paid' notices are wrong too"
)


# --- the plan: who buys what, and what must come of it -----------------------------------------


@dataclass
class Plan:
    group: str
    customer: Headers
    product_id: str
    quantity: int = 1
    coupon: str | None = None
    fails_first: bool = False  # a failed attempt on the order before the successful one
    pays: bool = True
    cancel: bool = False  # cancelled before it is paid (a late capture)
    fulfilled: bool = True  # expected to end with its stock and coupon use committed
    refund_kind: int | None = None  # 0 full, 1 one partial, 2 two partials, 3 partial + rest
    refunds: list[int] = field(default_factory=list)  # made at Razorpay, by amount
    session: dict[str, Any] = field(default_factory=dict)
    payment_id: str | None = None

    @property
    def id(self) -> str:
        return str(self.session["id"])

    @property
    def order_id(self) -> str:
        return str(self.session["razorpayOrderId"])

    @property
    def amount(self) -> int:
        return int(self.session["amount"]["amount"])

    def expected_status(self) -> str:
        if not self.pays:
            return "ATTEMPTED" if self.fails_first else "CREATED"
        if not self.fulfilled:
            return "REFUNDED"
        refunded = sum(self.refunds)
        if refunded == 0:
            return "PAID"
        return "REFUNDED" if refunded == self.amount else "PARTIALLY_REFUNDED"


@dataclass
class Delivery:
    body: bytes
    headers: Headers
    good: bool  # correctly signed
    event: str
    order_id: str | None
    phase: int = 0
    seconds: float | None = None  # first attempt's answer time (None: not sent yet)
    status: int | None = None  # last answer (None: cut off)
    first_status: int | None = None
    attempts: int = 0


def event_of(body: bytes) -> tuple[str, str | None]:
    event = json.loads(body)
    payment = event["payload"].get("payment", {}).get("entity", {})
    return str(event["event"]), payment.get("order_id")


def razorpay_headers(received: Received) -> Headers:
    return {
        k: v for k, v in received.headers.items() if k.startswith(("x-razorpay", "content-type"))
    } | {"user-agent": "Razorpay-Webhook/v1"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def storm_stack(
    base_settings: Settings, databases: Databases, tmp_path: Path
) -> AsyncIterator[Stack]:
    """An app of the test's own (database, table, topics: exact counts) that waits for Razorpay
    as long as production does (10 s), so a 3 s answer is slow, not a failure. Its DynamoDB and
    SNS are an emulator in a process of its own, as AWS is: in this process the storm starves
    its threads until a publish is answered after botocore's read timeout and sent twice
    (Cognito stays the session's emulator, where the customers are)."""
    log = tmp_path / "emulator.log"
    print(f"\nthe storm's AWS emulator logs to {log}")
    with EmulatorProcess(port=free_port(), log=log) as emulator:
        async for stack in _storm_stack(base_settings, databases, emulator.url):
            yield stack


async def _storm_stack(
    base_settings: Settings, databases: Databases, aws_endpoint_url: str
) -> AsyncIterator[Stack]:
    settings, topics = await own_settings(
        base_settings, databases=databases, label="storm", aws_endpoint_url=aws_endpoint_url
    )
    settings = settings.model_copy(
        update={
            "aws_endpoint_url": aws_endpoint_url,
            "cognito_jwks_url": base_settings.jwks_url,
            "razorpay_timeout_seconds": 10.0,
            # in process (ASGI transport) a background task would hold the answer: the jobs
            # carry the effects out instead, as on Lambda
            "webhook_dispatch_after_answer": False,
        }
    )
    async with open_stack(settings, topics) as stack:
        yield stack
    await databases.drop(settings.database_url)


# --- the test ----------------------------------------------------------------------------------


@pytest.mark.timeout(600)  # about a minute on 2 CPUs; `make storm` runs it alone, with the report
async def test_a_storm_of_webhooks_with_a_slow_razorpay_keeps_every_paisa_right(
    storm_stack: Stack,
    sandbox: SandboxControl,
    razorpay_sandbox: SandboxServer,
    new_customer: Callable[..., Headers],
) -> None:
    started = time.monotonic()
    stack, gql = storm_stack, storm_stack.gql
    rng = random.Random(20261202)
    warned = WarningTally()
    logging.getLogger().addHandler(warned)
    admin = new_customer("admin")
    receiver = WebhookReceiver()
    receiver.start()
    sandbox.configure(webhook_url=receiver.webhook_url)
    rzp = httpx.AsyncClient(
        base_url=razorpay_sandbox.base_url, auth=(RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET), timeout=30
    )
    try:
        plans, products, coupons = await make_plans(gql, admin, new_customer, rng)
        await open_and_pay(gql, rzp, plans, rng)
        sandbox.flush(timeout=60)
        real = receiver.received()
        deliveries = storm_of(real, plans, rng)
        setup_seconds = time.monotonic() - started

        # --- the storm: Razorpay's API answers 3 s late -----------------------------------
        sandbox.set_faults({"type": "slow", "delay": SLOW_RAZORPAY, "count": None})
        storm_started = time.monotonic()
        for phase in (1, 2):
            await send_all([d for d in deliveries if d.phase == phase], stack.client)
        storm_seconds = time.monotonic() - storm_started
        sandbox.set_faults()

        # Razorpay retries what was not answered 2xx (cut off, or 5xx)
        for _ in range(3):
            again = [d for d in deliveries if d.good and not _ok(d.status)]
            if not again:
                break
            await send_all(again, stack.client)

        # the jobs run; Razorpay tells about what the app did (its own refunds), until quiet
        forwarded, followups = len(real), []
        for _ in range(6):
            await run_jobs_until_outbox_empty(stack)
            sandbox.flush(timeout=30)
            later = receiver.received()[forwarded:]
            if not later:
                break
            forwarded += len(later)
            news = [Delivery(r.body, razorpay_headers(r), True, *event_of(r.body)) for r in later]
            await send_all(news, stack.client)
            await send_all([d for d in news if not _ok(d.status)], stack.client)  # a retry
            followups += news
        settle_seconds = time.monotonic() - storm_started - storm_seconds

        report = (
            answer_times(
                deliveries,
                setup_seconds=setup_seconds,
                storm_seconds=storm_seconds,
                settle_seconds=settle_seconds,
                sessions=len(plans),
            )
            + warned.report()
        )
        print("\n" + report)
        if os.environ.get("STORM_REPORT") == "1":
            REPORT.parent.mkdir(parents=True, exist_ok=True)
            REPORT.write_text(report)

        # --- what must hold -----------------------------------------------------------------
        bad_answers = Counter(
            (d.event, d.status) for d in deliveries + followups if d.good and not _ok(d.status)
        ) + Counter(
            ("bad signature", d.status) for d in deliveries if not d.good and d.status != 400
        )
        problems = []
        if bad_answers:
            problems.append(f"deliveries answered wrongly (event, status): {dict(bad_answers)}")
        problems += await check_sessions(gql, admin, rzp, plans)
        problems += await check_dashboard(gql, admin, plans)
        problems += await check_notifications(stack, plans)
        problems += await check_stock(gql, admin, stack, plans, products)
        problems += check_coupons(plans, coupons)
    finally:
        logging.getLogger().removeHandler(warned)
        receiver.stop()
        await rzp.aclose()
    assert len(deliveries) >= 1000
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])


class WarningTally(logging.Handler):
    """The app's warnings and errors during the run, counted by what they say (their format
    string): a notification sent twice shows up here first, e.g. a publish botocore re-sent."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.examples: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.name, str(record.msg))
        self.counts[key] += 1
        self.examples.setdefault(key, record.getMessage()[:160])

    def report(self) -> str:
        if not self.counts:
            return "\nNo warnings were logged.\n"
        lines = ["", "| logged (WARNING or worse) | times | e.g. |", "|---|---:|---|"]
        for key, n in self.counts.most_common(20):
            example = self.examples[key].replace("|", "\\|")
            lines.append(f"| {key[0]} | {n} | {example} |")
        return "\n".join(lines) + "\n"


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


# --- setting the scene -------------------------------------------------------------------------


async def make_plans(
    gql: GraphQLClient,
    admin: Headers,
    new_customer: Callable[..., Headers],
    rng: random.Random,
) -> tuple[list[Plan], dict[str, int], dict[str, dict[str, int]]]:
    """The sessions to make, each with what must come of it; the products (id → units on
    hand at the start) and coupons (code → limits) they use."""
    main = await own_product(gql, admin, price=50_000, stock=2_000)
    products = {main["id"]: 2_000}
    coupons: dict[str, dict[str, int]] = {}
    plans: list[Plan] = []

    def plan(group: str, **kwargs: Any) -> Plan:
        made = Plan(group=group, customer=kwargs.pop("customer", None) or new_customer(), **kwargs)
        plans.append(made)
        return made

    for _ in range(80):
        plan("paid", product_id=main["id"], quantity=rng.randint(1, 3))
    for _ in range(25):
        plan("paid after a failed attempt", product_id=main["id"], fails_first=True)
    for _ in range(15):
        plan("failed", product_id=main["id"], fails_first=True, pays=False)
    for group in ("refunds before capture", "refunds after capture"):
        for n in range(25 if group == "refunds before capture" else 15):
            # full; one partial; two partials; a partial and the rest
            kind = n % 4
            plan(group, product_id=main["id"], refund_kind=kind)
    for _ in range(6):
        plan("late, nobody else wanted it", product_id=main["id"], cancel=True)
    for _ in range(6):  # the last unit: the cancelled session's late capture must be refunded
        scarce = await own_product(gql, admin, price=80_000, stock=1)
        products[scarce["id"]] = 1
        plan("late, unit sold to another", product_id=scarce["id"], cancel=True, fulfilled=False)
        plan("took the last unit", product_id=scarce["id"])
    for n in range(10):  # a coupon used once in all; or once per customer
        code = f"STORM{secrets.token_hex(3).upper()}"
        limits = {"usageLimit": 1} if n % 2 == 0 else {"perCustomerLimit": 1}
        made = await data(
            gql, OFFER_UPSERT, admin, input={"code": code, "kind": "FLAT", "flat": 5_000} | limits
        )
        assert made["offerUpsert"]["errors"] == [], made
        coupons[code] = limits
        loser = plan(
            "late, coupon used by another", product_id=main["id"], coupon=code, cancel=True
        )
        loser.fulfilled = False
        same = loser.customer if "perCustomerLimit" in limits else None
        plan("used the coupon", product_id=main["id"], coupon=code, customer=same)
    return plans, products, coupons


async def open_and_pay(
    gql: GraphQLClient, rzp: httpx.AsyncClient, plans: list[Plan], rng: random.Random
) -> None:
    """Every session opened, the ones to cancel first (and cancelled), so the last unit or
    coupon use they held can go to someone else; then each paid on the sandbox (after a failed
    attempt where planned), and refunded there where planned, as from Razorpay's dashboard."""
    gate = asyncio.Semaphore(12)
    first_of_customer = {id(p.customer): p for p in reversed(plans)}

    async def open_(p: Plan) -> None:
        async with gate:
            await open_one(gql, p, fill=first_of_customer[id(p.customer)] is p)

    # a coupon use or last unit that goes to someone else goes there after the cancel
    await asyncio.gather(*(open_(p) for p in plans if p.cancel))
    await asyncio.gather(*(open_(p) for p in plans if not p.cancel))
    for p in plans:
        if p.refund_kind is not None:
            p.refunds = refund_amounts(p.refund_kind, p.amount, rng)

    async def pay(p: Plan) -> None:
        async with gate:
            if p.fails_first:
                await sandbox_pay(rzp, p.order_id, "failure")
            if p.pays:
                p.payment_id = await sandbox_pay(rzp, p.order_id, "success")
            for n, amount in enumerate(p.refunds):
                refund = await rzp.post(
                    f"/v1/payments/{p.payment_id}/refund",
                    json={"amount": amount},
                    headers={"x-refund-idempotency": f"storm-{p.id}-{n}"},
                )
                assert refund.status_code == 200, refund.text

    await asyncio.gather(*(pay(p) for p in plans))


async def open_one(gql: GraphQLClient, p: Plan, *, fill: bool) -> None:
    """Fill the cart, apply the coupon and open the session in one request (mutations run one
    after the other), then cancel it where planned."""
    parts, params, variables = [], [], {}
    if fill:  # a customer's second session pays for the same cart
        parts.append("add: cartLinesAdd(lines: $lines) { errors { code message } }")
        params.append("$lines: [CartLineInput!]!")
        variables["lines"] = [{"productId": p.product_id, "quantity": p.quantity}]
    if p.coupon:
        parts.append(
            "coupon: cartCouponApply(code: $code) { cart { coupon { applicable } } "
            "errors { code message } }"
        )
        params.append("$code: String!")
        variables["code"] = p.coupon
    parts.append(
        "open: paymentSessionCreate(input: $input) { paymentSession { id status "
        "amount { amount } couponCode razorpayOrderId } errors { code field message } }"
    )
    params.append("$input: PaymentSessionCreateInput!")
    variables["input"] = {"idempotencyKey": f"storm-{secrets.token_hex(8)}"}
    answer = await data(
        gql, f"mutation({', '.join(params)}) {{ {' '.join(parts)} }}", p.customer, **variables
    )
    for name in ("add", "coupon", "open"):
        assert answer.get(name, {"errors": []})["errors"] == [], (p.group, answer)
    if p.coupon:
        assert answer["coupon"]["cart"]["coupon"]["applicable"], answer
        assert answer["open"]["paymentSession"]["couponCode"] == p.coupon, answer
    p.session = answer["open"]["paymentSession"]
    if p.cancel:
        cancelled = (await data(gql, CANCEL, p.customer, id=p.id))["paymentSessionCancel"]
        assert cancelled["paymentSession"]["status"] == "CANCELLED", cancelled


async def sandbox_pay(rzp: httpx.AsyncClient, order_id: str, outcome: str) -> str:
    answer = await rzp.post(
        f"/_sandbox/orders/{order_id}/pay", json={"outcome": outcome, "method": "upi"}
    )
    answer.raise_for_status()
    body = answer.json()
    if outcome == "success":
        return str(body["razorpay_payment_id"])
    return str(body["error"]["metadata"]["payment_id"])


def refund_amounts(kind: int, amount: int, rng: random.Random) -> list[int]:
    part = rng.randint(100, amount // 3)
    return [[amount], [part], [part, rng.randint(100, amount // 3)], [part, amount - part]][kind]


def storm_of(real: list[Received], plans: list[Plan], rng: random.Random) -> list[Delivery]:
    """The real deliveries, 30 % of all of them duplicates, bad signatures mixed in, in two
    shuffled phases: refunds of "refunds before capture" sessions (and the captures of
    "refunds after capture" ones) in the first; their other events in the second."""
    group_of = {p.order_id: p.group for p in plans}
    unique = [Delivery(r.body, razorpay_headers(r), True, *event_of(r.body)) for r in real]
    extra = math.ceil(DUPLICATE_SHARE * len(unique) / (1 - DUPLICATE_SHARE))
    good = unique + [
        Delivery(d.body, d.headers, True, d.event, d.order_id) for d in rng.choices(unique, k=extra)
    ]
    bad: list[Delivery] = []
    for n, d in enumerate(rng.sample(unique, 60)):
        headers, body = dict(d.headers), d.body
        if n % 4 == 0:
            headers["x-razorpay-signature"] = secrets.token_hex(32)
        elif n % 4 == 1:
            headers["x-razorpay-signature"] = hmac_sha256_hex("not-our-webhook-secret", body)
        elif n % 4 == 2:
            headers.pop("x-razorpay-signature")
        else:
            body = body.replace(b'"amount":', b'"amount":1', 1)
        bad.append(Delivery(body, headers, False, d.event, d.order_id))
    for d in good + bad:
        group = group_of.get(d.order_id or "")
        refund_event = d.event.startswith("refund.")
        if group == "refunds before capture":
            d.phase = 1 if refund_event else 2
        elif group == "refunds after capture":
            d.phase = 2 if refund_event else 1
        else:
            d.phase = rng.choice((1, 2))
    everything = good + bad
    rng.shuffle(everything)
    return everything


async def send_all(deliveries: list[Delivery], client: httpx.AsyncClient) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def send(d: Delivery) -> None:
        async with gate:
            t0 = time.perf_counter()
            try:
                answer = await asyncio.wait_for(
                    client.post("/webhooks/razorpay", content=d.body, headers=d.headers),
                    timeout=CUT_OFF,
                )
                d.status = answer.status_code
            except TimeoutError:
                d.status = None
            if d.seconds is None:
                d.seconds, d.first_status = time.perf_counter() - t0, d.status
            d.attempts += 1

    await asyncio.gather(*(send(d) for d in deliveries))


def answer_times(
    deliveries: list[Delivery],
    *,
    setup_seconds: float,
    storm_seconds: float,
    settle_seconds: float,
    sessions: int,
) -> str:
    times = [d.seconds for d in deliveries if d.seconds is not None]
    signed = [d.seconds for d in deliveries if d.good and d.seconds is not None]
    cut = sum(1 for d in deliveries if d.seconds is not None and d.first_status is None)
    over_5 = sum(1 for t in times if t > 5.0)
    by_event: dict[str, list[float]] = {}
    for d in deliveries:
        if d.good and d.seconds is not None:
            by_event.setdefault(d.event, []).append(d.seconds)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    lines = [
        "# Webhook answer times under the storm",
        "",
        f"`tests/integration/test_webhook_storm_money.py`, commit `{commit}`, "
        f"{os.cpu_count()} CPUs, CPython {platform.python_version()}; the app in process "
        f"(ASGI), {CONCURRENCY} deliveries at a time, the sandbox's Razorpay API answering "
        f"{SLOW_RAZORPAY:.0f} s late; a delivery is cut off after {CUT_OFF:.0f} s.",
        "",
        f"- {len(deliveries)} deliveries ({sum(d.good for d in deliveries)} signed, "
        f"{sum(not d.good for d in deliveries)} with a bad signature) for {sessions} sessions",
        f"- first attempts: p50 {percentile(times, 0.50) * 1000:.0f} ms, "
        f"p99 {percentile(times, 0.99) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
        f"- signed only: p50 {percentile(signed, 0.50) * 1000:.0f} ms, "
        f"p99 {percentile(signed, 0.99) * 1000:.0f} ms",
        f"- over Razorpay's 5 s: {over_5}; cut off at {CUT_OFF:.0f} s: {cut}",
        "- first answers: "
        + ", ".join(
            f"{'cut off' if status == 'None' else status}: {n}"
            for status, n in sorted(Counter(str(d.first_status) for d in deliveries).items())
        ),
        f"- setup {setup_seconds:.1f} s, storm {storm_seconds:.1f} s, "
        f"retries + jobs + follow-ups {settle_seconds:.1f} s",
        "",
        "| event | deliveries | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for event, values in sorted(by_event.items()):
        lines.append(
            f"| {event} | {len(values)} | {percentile(values, 0.5) * 1000:.0f} | "
            f"{percentile(values, 0.99) * 1000:.0f} |"
        )
    return "\n".join(lines) + "\n"


# --- checks (each answers a list of problems) ---------------------------------------------------


async def razorpay_payments(rzp: httpx.AsyncClient, order_id: str) -> list[dict[str, Any]]:
    answer = await rzp.get(f"/v1/orders/{order_id}/payments")
    answer.raise_for_status()
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def check_sessions(
    gql: GraphQLClient, admin: Headers, rzp: httpx.AsyncClient, plans: list[Plan]
) -> list[str]:
    problems: list[str] = []
    wrong: Counter[str] = Counter()
    batches = [plans[i : i + 10] for i in range(0, len(plans), 10)]

    async def read(batch: list[Plan]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Ten sessions a request (aliases), and their payments as Razorpay has them."""
        params = ", ".join(f"$i{n}: ID!" for n in range(len(batch)))
        fields = " ".join(
            f"s{n}: paymentSession(id: $i{n}) {{ {SESSION_FIELDS} }}" for n in range(len(batch))
        )
        variables = {f"i{n}": p.id for n, p in enumerate(batch)}
        found = await data(gql, f"query({params}) {{ {fields} }}", admin, **variables)
        return [
            (found[f"s{n}"], await razorpay_payments(rzp, p.order_id)) for n, p in enumerate(batch)
        ]

    results = [r for batch in await asyncio.gather(*map(read, batches)) for r in batch]
    for p, (found, at_razorpay) in zip(plans, results, strict=True):
        p.session |= found
        expected = p.expected_status()
        if found["status"] != expected:
            wrong[f"{p.group}: {found['status']} instead of {expected}"] += 1
        refunded_at_razorpay = sum(int(x["amount_refunded"]) for x in at_razorpay)
        if found["refundedAmount"]["amount"] != refunded_at_razorpay:
            wrong[f"{p.group}: refundedAmount differs from Razorpay's amount_refunded"] += 1
            if len(problems) < 10:
                problems.append(
                    f"{p.id} ({p.group}): refundedAmount {found['refundedAmount']['amount']}, "
                    f"Razorpay refunded {refunded_at_razorpay}"
                )
        if not p.fulfilled and found["status"] == "REFUNDED":
            reasons = [r["reason"] for r in found["refunds"]]
            if LATE_REFUND_REASON not in reasons:
                wrong[f"{p.group}: refund reason not {LATE_REFUND_REASON!r}"] += 1
    problems += [f"{n} × {what}" for what, n in sorted(wrong.items())]
    return problems


async def check_dashboard(gql: GraphQLClient, admin: Headers, plans: list[Plan]) -> list[str]:
    """Sessions that were paid count once, at their captured amount; their refunds add up to
    what Razorpay refunded; each failed payment counts once. A late capture refunded because
    it could not be fulfilled may count as paid and refunded, or not at all: both are exact."""
    paid = [p for p in plans if p.pays and p.fulfilled]
    unfulfilled = [p for p in plans if p.pays and not p.fulfilled]
    refunded = sum(sum(p.refunds) for p in paid)
    base = {
        "paidCount": len(paid),
        "paidAmount": sum(p.amount for p in paid),
        "refundedAmount": refunded,
        "failedCount": sum(p.fails_first for p in plans),
    }
    with_late = base | {
        "paidCount": base["paidCount"] + len(unfulfilled),
        "paidAmount": base["paidAmount"] + sum(p.amount for p in unfulfilled),
        "refundedAmount": refunded + sum(p.amount for p in unfulfilled),
    }
    board = await dashboard_totals(gql, admin)
    if board in (base, with_late):
        return []
    return [f"dashboard {board}; expected {base} (or, counting late refunds, {with_late})"]


def is_paid_notice(message: Published) -> bool:
    event = message.attributes.get("event")
    if event:
        return event.endswith(".paid")
    return message.notification_id.startswith("paid:")


async def check_notifications(stack: Stack, plans: list[Plan]) -> list[str]:
    to_customers = await drain(stack, "customer")
    to_admins = await drain(stack, "admin")
    problems: list[str] = []
    twice = repeated(to_customers + to_admins)
    if twice:
        problems.append(
            f"{len(twice)} notifications published more than once, e.g. "
            f"{dict(list(twice.items())[:5])}"
        )
    wrong: Counter[str] = Counter()
    by_session: dict[str, list[Published]] = {}
    for message in to_customers + to_admins:
        for p in plans:
            if message.about(p.id):
                by_session.setdefault(p.id, []).append(message)
    for p in plans:
        mine = by_session.get(p.id, [])
        for queue in ("customer", "admin"):
            notices = sum(1 for m in mine if m.queue == queue and is_paid_notice(m))
            should = {1} if p.pays and p.fulfilled else {0}
            if p.group == "refunds before capture" and sum(p.refunds) == p.amount:
                should = {0, 1}  # refunded in full before the capture came: PAID for no time
            if notices not in should:
                wrong[f"{p.group}: {notices} 'paid' notices to the {queue} (not {should})"] += 1
            if p.pays and not p.fulfilled and not any(m.queue == queue for m in mine):
                wrong[f"{p.group}: the {queue} was not told of the refund"] += 1
    return problems + [f"{n} × {what}" for what, n in sorted(wrong.items())]


def committed(p: Plan) -> bool:
    """The session took its units and coupon use for good: it was paid (a merchant's refund
    afterwards gives neither back), as opposed to a late capture refunded unfulfilled."""
    status = p.session.get("status")
    return status in ("PAID", "PARTIALLY_REFUNDED") or (status == "REFUNDED" and p.fulfilled)


async def check_stock(
    gql: GraphQLClient,
    admin: Headers,
    stack: Stack,
    plans: list[Plan],
    products: dict[str, int],
) -> list[str]:
    problems: list[str] = []
    connection = await asyncpg.connect(asyncpg_dsn(stack.settings.database_url))
    try:
        rows = await connection.fetch(
            "SELECT * FROM products WHERE id = ANY($1::uuid[])",
            [uuid.UUID(pid) for pid in products],
        )
    finally:
        await connection.close()
    for row in rows:
        for column in ("stock", "on_hand", "reserved"):
            if column in row and row[column] < 0:
                problems.append(f"product {row['id']}: {column} = {row[column]} (below 0)")
    for pid, on_hand in products.items():
        mine = [p for p in plans if p.product_id == pid]
        taken = sum(p.quantity for p in mine if committed(p))
        if taken > on_hand:
            problems.append(f"product {pid}: {taken} units sold, {on_hand} were on hand")
        sold = sum(p.quantity for p in mine if p.pays and p.fulfilled)
        held = sum(p.quantity for p in mine if not p.pays)  # open sessions hold theirs
        body = await gql(PRODUCT_ON_HAND, {"id": pid}, headers=admin)
        if "errors" in body:
            body = await gql(PRODUCT, {"id": pid}, headers=admin)
        product = body["data"]["product"]  # type: ignore[index]
        if product["stock"] != on_hand - sold - held:
            problems.append(
                f"product {pid}: stock {product['stock']}, expected {on_hand} on hand - "
                f"{sold} sold - {held} held"
            )
        if "stockOnHand" in product and product["stockOnHand"] != on_hand - sold:
            problems.append(
                f"product {pid}: stockOnHand {product['stockOnHand']}, expected {on_hand - sold}"
            )
    return problems


def check_coupons(plans: list[Plan], coupons: dict[str, dict[str, int]]) -> list[str]:
    problems: list[str] = []
    for code, limits in coupons.items():
        kept = [p for p in plans if p.session.get("couponCode") == code and committed(p)]
        if len(kept) > limits.get("usageLimit", len(kept)):
            problems.append(f"coupon {code}: {len(kept)} paid uses, limit {limits['usageLimit']}")
        per_customer = max(Counter(id(p.customer) for p in kept).values(), default=0)
        if per_customer > limits.get("perCustomerLimit", per_customer):
            problems.append(f"coupon {code}: one customer used it {per_customer} times, limit 1")
    return problems
