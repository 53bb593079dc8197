"""The start limit counts the client's address: X-Forwarded-For is believed only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client

from sessions.clients import forwarded_client, limit_key, parse
from sessions.models import Playground, Session

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]
XHR = {"x-requested-with": "XMLHttpRequest"}


def test_it_takes_the_peer_when_it_is_no_trusted_proxy() -> None:
    assert forwarded_client("198.51.100.9", "203.0.113.1", PROXIES) == "198.51.100.9"


def test_it_takes_the_address_a_trusted_proxy_saw() -> None:
    assert forwarded_client("10.0.0.2", "203.0.113.1", PROXIES) == "203.0.113.1"


def test_it_skips_every_trusted_proxy_from_the_right() -> None:
    assert forwarded_client("10.0.0.2", "203.0.113.1, 10.1.1.1,10.2.2.2", PROXIES) == "203.0.113.1"


def test_it_never_reads_what_the_client_wrote_left_of_the_address_the_proxy_saw() -> None:
    assert forwarded_client("10.0.0.2", "10.9.9.9, 1.2.3.4, 203.0.113.1", PROXIES) == "203.0.113.1"
    assert forwarded_client("10.0.0.2", "garbage, 203.0.113.1", PROXIES) == "203.0.113.1"


@pytest.mark.parametrize("header", ["", "   ", "not-an-address", "203.0.113.1, ", "10.1.1.1", "2001:db8::g", ",,,"])
def test_it_counts_the_proxy_itself_when_the_header_names_no_client(header: str) -> None:
    assert forwarded_client("10.0.0.2", header, PROXIES) == "10.0.0.2"


def test_it_reads_ipv6_peers_and_entries() -> None:
    assert forwarded_client("2001:db8:ffff::1", "2001:DB8:1::5", PROXIES) == "2001:db8:1::5"
    assert forwarded_client("2001:db8:ffff::1", "[2001:db8:1::5]:4711", PROXIES) == "2001:db8:1::5"
    assert forwarded_client("::ffff:10.0.0.2", "::ffff:203.0.113.1", PROXIES) == "203.0.113.1"


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("203.0.113.1", "203.0.113.1"),
        (" 203.0.113.1:8080 ", "203.0.113.1"),
        ("[::1]:80", "::1"),
        ("::1", "::1"),
        ("unknown", None),
        ("203.0.113.256", None),
        ("[::1", None),
        ("1.2.3.4:80:90", None),
        ("x" * 10_000, None),
    ],
)
def test_it_parses_one_entry(entry: str, address: str | None) -> None:
    parsed = parse(entry)
    assert (str(parsed) if parsed is not None else None) == address


def test_the_start_limit_counts_clients_behind_a_trusted_proxy(live: Playground, settings: Any) -> None:
    settings.SESSION_STARTS_PER_MINUTE = 1
    settings.TRUSTED_PROXIES = ["192.0.2.50"]
    proxy = Client(REMOTE_ADDR="192.0.2.50")
    first = proxy.post("/", {}, headers={**XHR, "x-forwarded-for": "203.0.113.10"})
    second = proxy.post("/", {}, headers={**XHR, "x-forwarded-for": "203.0.113.11"})
    again = proxy.post("/", {}, headers={**XHR, "x-forwarded-for": "203.0.113.10"})
    assert [first.status_code, second.status_code, again.status_code] == [200, 200, 429]
    assert set(Session.objects.values_list("client_address", flat=True)) == {"203.0.113.10", "203.0.113.11"}
    # From anyone else the header is ignored: it cannot buy a visitor a fresh allowance.
    visitor = Client(REMOTE_ADDR="192.0.2.60")
    assert visitor.post("/", {}, headers={**XHR, "x-forwarded-for": "203.0.113.12"}).status_code == 200
    assert visitor.post("/", {}, headers={**XHR, "x-forwarded-for": "203.0.113.13"}).status_code == 429


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("", ""),
    ],
)
def test_limits_count_an_ipv6_client_by_its_64(address: str, key: str) -> None:
    assert limit_key(str(parse(address)) if parse(address) else address) == key


def test_rotating_through_an_ipv6_64_buys_no_fresh_allowance(live: Playground, settings: Any) -> None:
    settings.SESSION_STARTS_PER_MINUTE, settings.SESSIONS_PER_CLIENT = 2, 0
    codes = [Client(REMOTE_ADDR=f"2001:db8:7:7::{n}").post("/", {}, headers=XHR).status_code for n in range(1, 4)]
    assert codes == [200, 200, 429]
    assert set(Session.objects.values_list("client_address", flat=True)) == {"2001:db8:7:7::"}
    assert Client(REMOTE_ADDR="2001:db8:7:8::1").post("/", {}, headers=XHR).status_code == 200
