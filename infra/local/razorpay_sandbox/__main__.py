"""``python -m infra.local.razorpay_sandbox --port 9090 ...``: serve the sandbox."""

from __future__ import annotations

import argparse

import uvicorn

from infra.local.razorpay_sandbox.app import create_sandbox_app
from infra.local.razorpay_sandbox.config import SandboxConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.razorpay_sandbox", description="Razorpay test-mode sandbox"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--key-id", default=defaults.key_id)
    parser.add_argument("--key-secret", default=defaults.key_secret)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=defaults.webhook_secret)
    parser.add_argument("--account-id", default=defaults.account_id)
    parser.add_argument(
        "--manual-capture", action="store_true", help="authorize only; capture through the API"
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="webhook backoff clock factor"
    )
    parser.add_argument(
        "--state-file", default=None, help="SQLite file keeping the state across restarts"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = SandboxConfig(
        key_id=args.key_id,
        key_secret=args.key_secret,
        account_id=args.account_id,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        auto_capture=not args.manual_capture,
        time_scale=args.time_scale,
        state_file=args.state_file,
    )
    uvicorn.run(
        create_sandbox_app(config=config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws="none",
    )


if __name__ == "__main__":
    main()
