"""Who is on the other end of the connection: the client address a rate limit counts by.

Pure (``ipaddress`` only). The direct peer is API Gateway's ``sourceIp`` on Lambda, else the
ASGI ``client``. ``X-Forwarded-For`` is read only when that peer is one of the trusted
proxies (CloudFront's origin-facing ranges): then the right-most address that is not a
trusted proxy is the client. A client can prepend anything to the header; only what the
trusted hops appended is believed. Anything else ignores the header.

IPv6 clients are grouped by their /64 (one subscriber's allocation; a single host can pick
any of its 2^64 addresses), IPv4 ones by their address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# where the app puts the client's key for the request (``scope["state"]``), for GraphQL to read
CLIENT_IP_STATE_KEY = "client_ip"
UNKNOWN_CLIENT = "unknown"
IPV6_PREFIX = 64


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (or bare addresses). Raises :class:`ValueError` naming a bad one."""
    networks: list[IPNetwork] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP network: {part!r}") from exc
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as the proxies write it: ``1.2.3.4``, ``1.2.3.4:443``, ``2001:db8::1``,
    ``[2001:db8::1]:443`` or API Gateway's ``192.168.0.1/32``; ``None`` if it is none of these.
    An IPv4-mapped IPv6 address is its IPv4 address."""
    value = text.strip()
    if value.startswith("["):  # [v6] or [v6]:port
        if "]" not in value:
            return None
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    value = value.split("/", 1)[0].split("%", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def forwarded_chain(headers: Iterable[str]) -> list[str]:
    """Every ``X-Forwarded-For`` value, in order, as one list (several headers concatenate)."""
    return [part.strip() for header in headers for part in header.split(",") if part.strip()]


def client_address(
    *, peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    untrusted hop of ``forwarded_for`` (all trusted: the left-most; an unreadable hop stops the
    walk at the last good one)."""
    address = parse_address(peer) if peer else None
    if address is None or not trusted or not _trusted(address, trusted):
        return address
    for hop in reversed(forwarded_for):
        parsed = parse_address(hop)
        if parsed is None:
            return address
        address = parsed
        if not _trusted(address, trusted):
            return address
    return address


def rate_key(address: IPAddress | None) -> str:
    """The key a client is counted under: its IPv4 address, or its IPv6 /64."""
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
