"""Parse the ssh user names the gateway accepts: ip<a-b-c-d>-<session id>, and PWD's legacy <a-b-c-d>-<sid[:8]>."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.names import SHORT, SHORT_PATTERN, parse_proxy_host, undash_ip

_LEGACY = re.compile(rf"(\d{{1,3}}(?:-\d{{1,3}}){{3}})-({SHORT_PATTERN})")


class BadUserName(ValueError):
    """The user name names no instance in any form the gateway knows."""


@dataclass(frozen=True)
class UserName:
    ip: str
    session: str  # the full session id, or only its first 8 characters when legacy
    legacy: bool


def parse(username: str) -> UserName:
    """Split an ssh user name into the instance address and the session id (or legacy prefix)."""
    name = username.strip().lower()
    full = parse_proxy_host(name)
    if full and len(full[1]) > SHORT:
        return UserName(ip=full[0], session=full[1], legacy=False)
    legacy = _LEGACY.fullmatch(name)
    ip = legacy and undash_ip(legacy[1])
    if legacy and ip:
        return UserName(ip=ip, session=legacy[2], legacy=True)
    raise BadUserName(
        f"{username!r} is not a playground user: log in as ip<a-b-c-d>-<session id>, "
        "the ssh command shown for each instance on the session page"
    )
