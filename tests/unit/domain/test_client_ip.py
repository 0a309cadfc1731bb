"""The client's address: the peer unless it is a trusted proxy, X-Forwarded-For read from the
right, IPv6 grouped by /64."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from app.rate_limits import client_key, gateway_source_ip
from domain.client_ip import (
    UNKNOWN_CLIENT,
    client_address,
    forwarded_chain,
    parse_address,
    parse_networks,
    rate_key,
)

EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "aws-events"
CLOUDFRONT = parse_networks("130.176.0.0/16, 2600:9000::/28")


def key(peer: str | None, *xff: str, trusted: str = "130.176.0.0/16, 2600:9000::/28") -> str:
    return rate_key(
        client_address(
            peer=peer, forwarded_for=forwarded_chain(xff), trusted=parse_networks(trusted)
        )
    )


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert key("198.51.100.7", "1.2.3.4") == "198.51.100.7"
    assert key("198.51.100.7", "1.2.3.4", trusted="") == "198.51.100.7"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() -> None:
    # the client sent "6.6.6.6" itself; CloudFront appended the address it saw
    assert key("130.176.1.2", "6.6.6.6, 203.0.113.9") == "203.0.113.9"
    # a chain of trusted hops is skipped, and several headers read as one list
    assert key("130.176.1.2", "6.6.6.6", "203.0.113.9, 130.176.9.9") == "203.0.113.9"
    # only trusted hops: the left-most
    assert key("130.176.1.2", "130.176.3.3") == "130.176.3.3"
    # no header at all: the proxy itself
    assert key("130.176.1.2") == "130.176.1.2"
    # garbage stops the walk at the last good hop
    assert key("130.176.1.2", "203.0.113.9, not-an-ip") == "130.176.1.2"


def test_ipv6_clients_are_grouped_by_their_64() -> None:
    a = key("2001:db8:1:2:aaaa::1")
    assert a == "2001:db8:1:2::/64"
    assert key("2001:db8:1:2:ffff:ffff:ffff:ffff") == a
    assert key("2001:db8:1:3::1") != a
    assert key("2600:9000:1::5", "2001:db8:1:2::77") == a  # through CloudFront over IPv6
    assert key("::ffff:203.0.113.9") == "203.0.113.9"  # IPv4-mapped is IPv4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9:443 ", "203.0.113.9"),
        ("192.168.0.1/32", "192.168.0.1"),  # API Gateway's sourceIp in the sample events
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_addresses_as_proxies_write_them(text: str, expected: str) -> None:
    assert parse_address(text) == ipaddress.ip_address(expected)


@pytest.mark.parametrize("text", ["", "unknown", "1.2.3", "300.1.1.1", "[::1"])
def test_what_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None
    assert key(text or None) == UNKNOWN_CLIENT


def test_trusted_proxies_setting_is_validated() -> None:
    assert parse_networks("") == ()
    assert len(CLOUDFRONT) == 2
    with pytest.raises(ValueError, match="not-a-cidr"):
        parse_networks("10.0.0.0/8, not-a-cidr")


def _event(name: str) -> dict[str, object]:
    event: dict[str, object] = json.loads((EVENTS / name).read_text())
    return event


@pytest.mark.parametrize("name", ["apiGatewayProxyV2Event.json", "apiGatewayProxyEvent.json"])
def test_on_lambda_the_peer_is_api_gateways_source_ip(name: str) -> None:
    """HTTP API (v2) ``requestContext.http.sourceIp`` and REST (v1)
    ``requestContext.identity.sourceIp``, as AWS sends them ("192.168.0.1/32")."""
    scope = {
        "type": "http",
        "aws.event": _event(name),
        "client": ("10.9.9.9", 0),
        "headers": [(b"x-forwarded-for", b"6.6.6.6")],
    }
    assert gateway_source_ip(scope) == "192.168.0.1/32"
    assert client_key(scope, trusted=()) == "192.168.0.1"
    trusted = parse_networks("192.168.0.0/16")
    assert client_key(scope, trusted=trusted) == "6.6.6.6"


def test_locally_the_peer_is_the_asgi_client() -> None:
    scope = {"type": "http", "client": ("127.0.0.1", 5000), "headers": []}
    assert client_key(scope, trusted=()) == "127.0.0.1"
    assert client_key({"type": "http", "headers": []}, trusted=()) == UNKNOWN_CLIENT
