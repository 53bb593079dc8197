"""The address a request comes from, through the reverse proxies the operator trusts (TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: HttpRequest) -> str:
    """Return the client's address: the peer's, or from X-Forwarded-For when the peer is a trusted proxy."""
    trusted = [ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES]
    return forwarded_client(request.META.get("REMOTE_ADDR", ""), request.headers.get("X-Forwarded-For", ""), trusted)


def forwarded_by_untrusted_proxy(request: HttpRequest) -> bool:
    """Tell whether the request names a client of a proxy the operator did not list in TRUSTED_PROXIES.

    Such a proxy on this host makes every visitor's request arrive from 127.0.0.1.
    """
    if "X-Forwarded-For" not in request.headers and "Forwarded" not in request.headers:
        return False
    peer = parse(request.META.get("REMOTE_ADDR", ""))
    trusted = [ipaddress.ip_network(proxy, strict=False) for proxy in settings.TRUSTED_PROXIES]
    return peer is None or not _within(peer, trusted)


# An IPv6 client is handed a whole /64 (RFC 6177) and picks any address in it: per-address limits count the /64.
IPV6_CLIENT_PREFIX = 64


def limit_key(address: str) -> str:
    """Return what a per-client limit counts for this address: the address, or for IPv6 its /64's first address."""
    parsed = parse(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False).network_address)
    return address


def forwarded_client(peer: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """Return the rightmost address in `forwarded_for` that is not a trusted proxy, if `peer` is one; else `peer`.

    Each proxy appends the address it was reached from, so the entries left of the last untrusted one are
    whatever the client wrote: they are never read. An entry that is no address where a trusted proxy wrote
    one, or a header of only trusted proxies, leaves the peer as the client (the stricter count).
    """
    address = parse(peer)
    if address is None or not _within(address, trusted):
        return str(address) if address is not None else peer
    for entry in reversed(forwarded_for.split(",")):
        hop = parse(entry)
        if hop is None:
            return str(address)
        if not _within(hop, trusted):
            return str(hop)
    return str(address)


def parse(entry: str) -> Address | None:
    """Return the address in one X-Forwarded-For entry (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`), or None."""
    text = entry.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port; an IPv6 address has at least two colons
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
