"""Cognito in the local AWS emulator: a user pool, an app client and the demo users.

Demo users sign in with USER_PASSWORD_AUTH exactly as a frontend would against the real pool.
In the local stack's GraphiQL, "Sign in as a demo user" does that in the browser and fills the
Headers; ``python -m infra.local.cognito token USERNAME`` prints an access token for a demo user
of the running local stack (for curl, or GraphiQL's Headers as
{"Authorization": "Bearer <token>"}).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.local.emulator import emulator_client

ADMIN_GROUP = "admin"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    email: str
    groups: list[str] = field(default_factory=list)
    phone_number: str | None = None  # E.164; in the ID token (Checkout's prefill contact)


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("asha", "Asha-demo-2026!", "asha@example.com", phone_number="+919900000001"),
    DemoUser("ravi", "Ravi-demo-2026!", "ravi@example.com", phone_number="+919900000002"),
    DemoUser("admin", "Admin-demo-2026!", "admin@example.com", [ADMIN_GROUP], "+919900000003"),
)


@dataclass(frozen=True)
class CognitoStack:
    user_pool_id: str
    client_id: str
    users: tuple[DemoUser, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "cognito": {"user_pool_id": self.user_pool_id, "client_id": self.client_id},
            "users": [
                {"username": u.username, "password": u.password, "groups": u.groups}
                for u in self.users
            ],
        }


def _client(*, endpoint_url: str, region: str) -> Any:
    return emulator_client("cognito-idp", endpoint_url=endpoint_url, region=region)


def provision(
    *, endpoint_url: str, region: str, users: tuple[DemoUser, ...] = DEMO_USERS
) -> CognitoStack:
    idp = _client(endpoint_url=endpoint_url, region=region)
    pool = idp.create_user_pool(
        PoolName="storefront-local",
        UsernameAttributes=[],
        Policies={"PasswordPolicy": {"MinimumLength": 8}},
    )["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="storefront-web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["email", "phone_number"],
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool, GroupName=ADMIN_GROUP)
    for user in users:
        add_user(endpoint_url=endpoint_url, region=region, pool_id=pool, user=user)
    return CognitoStack(user_pool_id=pool, client_id=client, users=users)


def add_user(*, endpoint_url: str, region: str, pool_id: str, user: DemoUser) -> None:
    """A confirmed user with a permanent password (no first-sign-in challenge)."""
    idp = _client(endpoint_url=endpoint_url, region=region)
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=user.username,
        UserAttributes=[
            {"Name": "email", "Value": user.email},
            {"Name": "email_verified", "Value": "true"},
            *(
                [
                    {"Name": "phone_number", "Value": user.phone_number},
                    {"Name": "phone_number_verified", "Value": "true"},
                ]
                if user.phone_number
                else []
            ),
        ],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=user.username, Password=user.password, Permanent=True
    )
    for group in user.groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user.username, GroupName=group)


def sign_in(
    *, endpoint_url: str, region: str, client_id: str, username: str, password: str
) -> dict[str, str]:
    """AccessToken, IdToken and RefreshToken, as Cognito answers USER_PASSWORD_AUTH."""
    idp = _client(endpoint_url=endpoint_url, region=region)
    answer = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    tokens: dict[str, str] = answer["AuthenticationResult"]
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["token", "users"])
    parser.add_argument("username", nargs="?", default="asha")
    parser.add_argument("--kind", choices=["access", "id"], default="access")
    parser.add_argument("--stack", type=Path, default=Path(".devstack/stack.json"))
    args = parser.parse_args()
    stack = json.loads(args.stack.read_text())
    if args.command == "users":
        print(json.dumps(stack["users"], indent=2))
        return
    user = next(u for u in stack["users"] if u["username"] == args.username)
    tokens = sign_in(
        endpoint_url=stack["aws_endpoint_url"],
        region=stack["aws_region"],
        client_id=stack["cognito"]["client_id"],
        username=user["username"],
        password=user["password"],
    )
    print(tokens["AccessToken" if args.kind == "access" else "IdToken"])


if __name__ == "__main__":
    main()
