"""The Lambda bundle that `make package` builds, built here for this machine's platform and
imported in an isolated interpreter (``python -I -S``: no site-packages, only the bundle on
the path). It must answer AWS's own sample events through the handler: /healthz, a catalog
query, a signed webhook (base64 body too) and the checkout callback's form post."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings
from infra.aws.package import build
from tests.integration.test_lambda_handler import environment_of, load_event
from tests.support.production import SITE, production_environment
from tests.support.webhooks import event_body, payment_entity, signed_headers

DRIVER = Path(__file__).with_name("bundle_driver.py")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("package"), host=True, with_graphiql=False, archive=False)


def v2(method: str, path: str, *, body: bytes = b"", headers: dict[str, str], b64: bool = False):
    event: dict[str, Any] = copy.deepcopy(load_event("apiGatewayProxyV2Event.json"))
    text = base64.b64encode(body).decode() if b64 else body.decode()
    event.update(rawPath=path, rawQueryString="", body=text, isBase64Encoded=b64, headers=headers)
    event.pop("queryStringParameters", None)
    event.pop("cookies", None)
    event["requestContext"]["http"].update(method=method, path=path)
    event["requestContext"]["requestId"] = f"bundle-{method}-{path}"
    return event


def answers(bundle: Path, settings: Settings, events: list[dict[str, Any]]) -> list[Any]:
    env = production_environment(environment_of(settings), settings) | {
        "LOG_LEVEL": "WARNING",
        # as the Lambda runtime gives its role's credentials (the emulator takes any)
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    env["GRAPHIQL_ENABLED"] = "false"
    done = subprocess.run(
        # -B: no bytecode written into the bundle, which stays as built
        [sys.executable, "-I", "-S", "-B", str(DRIVER), str(bundle)],
        input="".join(json.dumps(e) + "\n" for e in events),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=bundle,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # stdout also has the handler's JSON log lines and EMF metrics: the driver's lines are keyed
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    [where] = [line for line in lines if "mangum" in line]
    assert where["mangum"].startswith(str(bundle)), where
    assert not any("site-packages" in p for p in where["path"]), where["path"]
    logged = [line for line in lines if "answer" not in line and "mangum" not in line]
    assert not [line for line in logged if line.get("level") in ("ERROR", "CRITICAL")], logged
    assert any("_aws" in line for line in lines)  # Powertools is in the bundle and writes EMF
    return [line["answer"] for line in lines if "answer" in line]


def body_of(answer: dict[str, Any]) -> Any:
    raw = answer["body"]
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    return json.loads(raw)


def test_the_bundle_leaves_out_tests_bench_infra_the_devstack_and_graphiql(bundle: Path) -> None:
    top = {p.name for p in bundle.iterdir()}
    assert {"app", "auth", "datasources", "domain", "resolvers", "schema"} <= top
    assert not top & {"tests", "bench", "infra", ".devstack", "build", "requirements"}
    assert not (bundle / "app" / "static" / "graphiql").exists()
    assert not list(bundle.rglob("__pycache__"))
    assert not (bundle / "pytest").exists() and not (bundle / "moto").exists()  # no dev tools


def test_the_isolated_bundle_answers_health_catalog_webhooks_and_the_callback(
    bundle: Path, settings: Settings
) -> None:
    json_headers = {"content-type": "application/json", "accept": "application/json"}
    catalog = json.dumps({"query": "{ products(first: 2) { edges { node { sku } } } }"}).encode()
    webhook = event_body("payment.captured", payment=payment_entity(id="pay_Bundle0000001"))
    form = urllib.parse.urlencode(
        {
            "razorpay_payment_id": "pay_Bundle0000001",
            "razorpay_order_id": "order_Bundle000001",
            "razorpay_signature": "0" * 64,
        }
    ).encode()
    events = [
        v2("GET", "/healthz", headers={"accept": "application/json"}),
        v2("POST", "/graphql", body=catalog, headers=json_headers),
        v2("POST", "/webhooks/razorpay", body=webhook, headers=signed_headers(webhook)),
        v2("POST", "/webhooks/razorpay", body=webhook, headers=signed_headers(webhook), b64=True),
        v2(
            "POST",
            "/payments/razorpay/callback",
            body=form,
            headers={"content-type": "application/x-www-form-urlencoded"},
            b64=True,
        ),
    ]
    health, products, hook, hook_b64, callback = answers(bundle, settings, events)

    assert health["statusCode"] == 200
    assert products["statusCode"] == 200
    assert len(body_of(products)["data"]["products"]["edges"]) == 2
    # a signed event for an order that is not ours: acknowledged, so Razorpay stops retrying
    assert (hook["statusCode"], body_of(hook)) == (200, {"detail": "not ours"})
    assert (hook_b64["statusCode"], body_of(hook_b64)) == (200, {"detail": "not ours"})
    # a forged checkout signature: the browser is sent to the failure page
    assert callback["statusCode"] == 303
    assert callback["headers"]["location"].startswith(f"{SITE}/shop/checkout/failure.html")
