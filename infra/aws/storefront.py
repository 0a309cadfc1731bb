"""Publish the storefront (``storefront/``) to a deployed stack's bucket under ``shop/``, with
the ``config.json`` the pages read (the stack's Cognito app client, Razorpay's checkout.js),
then invalidate ``/shop/*`` on its CloudFront distribution.

    python -m infra.aws.storefront --stack storefront-prod [--region ap-south-1]

The stack's outputs name the bucket, the distribution and the user pool client. Files no longer
in ``storefront/`` are deleted from ``shop/`` (like ``aws s3 sync --delete``). Every file is sent
``Cache-Control: no-cache``: CloudFront and browsers revalidate by ETag, so a publish is seen at
once without waiting for the invalidation.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from app.storefront import STOREFRONT_DIR, config_for

PREFIX = "shop/"
CACHE_CONTROL = "no-cache"


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def files_of(directory: Path) -> Iterator[tuple[str, Path]]:
    """(key under ``shop/``, path) for every file, hidden ones and ``config.json`` left out
    (the published config is the stack's)."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in relative.split("/")):
            continue
        if relative == "config.json":
            continue
        yield PREFIX + relative, path


def content_type(key: str) -> str:
    if key.endswith(".js"):
        return "text/javascript; charset=utf-8"
    guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def publish(
    s3: Any, *, bucket: str, config: dict[str, Any], directory: Path = STOREFRONT_DIR
) -> dict[str, list[str]]:
    """Upload ``directory`` and ``config`` to ``bucket`` under ``shop/``; delete what is left
    over there. Answers the keys written and deleted."""
    written: list[str] = []
    for key, path in files_of(directory):
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type(key),
            CacheControl=CACHE_CONTROL,
        )
        written.append(key)
    s3.put_object(
        Bucket=bucket,
        Key=PREFIX + "config.json",
        Body=json.dumps(config, indent=2).encode(),
        ContentType="application/json",
        CacheControl=CACHE_CONTROL,
    )
    written.append(PREFIX + "config.json")
    keep = set(written)
    stale = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
        for item in page.get("Contents", [])
        if item["Key"] not in keep
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in stale[start : start + 1000]]}
        )
    return {"written": written, "deleted": stale}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--region", default=None, help="the stack's region (default: the CLI's)")
    parser.add_argument("--merchant-name", default="Demo Storefront")
    args = parser.parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    outputs = stack_outputs(session.client("cloudformation"), args.stack)
    pool = outputs["UserPoolId"]
    config = config_for(
        region=pool.split("_", 1)[0],
        client_id=outputs["UserPoolClientIds"].split(",")[0].strip(),
        merchant_name=args.merchant_name,
    )
    done = publish(session.client("s3"), bucket=outputs["StorefrontBucketName"], config=config)
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["DistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/shop/*"]},
            "CallerReference": f"storefront-{time.time_ns()}",
        },
    )
    print(
        f"published {len(done['written'])} files to s3://{outputs['StorefrontBucketName']}/shop/"
        f" (deleted {len(done['deleted'])}); {outputs['SiteUrl']}/shop/"
    )


if __name__ == "__main__":
    main()
