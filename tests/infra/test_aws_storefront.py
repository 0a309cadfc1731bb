"""Publishing the storefront to a stack's bucket (infra/aws/storefront.py), against the
emulator's S3, and the production CSP the template sets agreeing with the app's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.storefront import STOREFRONT_DIR, config_for, csp_for
from infra.aws.storefront import content_type, files_of, publish, stack_outputs
from infra.local.emulator import emulator_client
from tests.support.cfn import load_template

REGION = "ap-south-1"


def _client(service: str, endpoint: str) -> Any:
    return emulator_client(service, endpoint_url=endpoint, region=REGION)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>shop</title>")
    (tmp_path / "app.js").write_text("export {}")
    (tmp_path / "checkout" / "success.html").write_text("<!doctype html><title>ok</title>")
    (tmp_path / "config.json").write_text('{"local": true}')  # never published
    (tmp_path / ".DS_Store").write_text("x")
    return tmp_path


def test_publish_uploads_the_files_and_the_config_and_deletes_the_rest(
    aws_endpoint_url: str, site: Path
) -> None:
    s3 = _client("s3", aws_endpoint_url)
    bucket = "storefront-publish-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="shop/old.js", Body=b"gone")
    s3.put_object(Bucket=bucket, Key="static/graphiql/keep.js", Body=b"kept")
    config = config_for(region=REGION, client_id="client-1", merchant_name="Shop")

    done = publish(s3, bucket=bucket, config=config, directory=site)

    assert sorted(done["written"]) == [
        "shop/app.js",
        "shop/checkout/success.html",
        "shop/config.json",
        "shop/index.html",
    ]
    assert done["deleted"] == ["shop/old.js"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {*done["written"], "static/graphiql/keep.js"}
    page = s3.get_object(Bucket=bucket, Key="shop/index.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert page["CacheControl"] == "no-cache"
    published = json.loads(s3.get_object(Bucket=bucket, Key="shop/config.json")["Body"].read())
    assert published == config
    assert published["cognito"]["endpoint"] == f"https://cognito-idp.{REGION}.amazonaws.com/"
    assert published["checkout"] == {
        "mode": "checkout.js",
        "script": "https://checkout.razorpay.com/v1/checkout.js",
    }


def test_the_stacks_outputs_are_read_by_key(aws_endpoint_url: str) -> None:
    cloudformation = _client("cloudformation", aws_endpoint_url)
    body = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {
            "StorefrontBucketName": {"Value": {"Ref": "Bucket"}},
            "UserPoolClientIds": {"Value": "abc,def"},
        },
    }
    cloudformation.create_stack(StackName="publish-outputs", TemplateBody=json.dumps(body))
    outputs = stack_outputs(cloudformation, "publish-outputs")
    assert outputs["UserPoolClientIds"] == "abc,def"
    assert outputs["StorefrontBucketName"]


def test_every_storefront_file_gets_a_content_type_browsers_run() -> None:
    found = list(files_of(STOREFRONT_DIR))
    assert ("shop/index.html", STOREFRONT_DIR / "index.html") in found
    assert all(not key.endswith("config.json") for key, _ in found)
    assert content_type("shop/app.js") == "text/javascript; charset=utf-8"
    assert content_type("shop/style.css") == "text/css; charset=utf-8"
    assert content_type("shop/a.png") == "image/png"


def test_the_templates_storefront_csp_is_the_apps_production_csp() -> None:
    template = load_template()
    policy = template["Resources"]["StorefrontHeadersPolicy"]["Properties"]
    security = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    written = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    production = config_for(region=REGION, client_id="c", merchant_name="m")
    assert written.replace("${AWS::Region}", REGION) == csp_for(production)
    behaviour = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "StorefrontHeadersPolicy"}
