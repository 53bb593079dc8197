"""Parse the ssh user names the gateway accepts: ip<a-b-c-d>-<session id>, and PWD's legacy <a-b-c-d>-<sid[:8]>."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_FULL = re.compile(r"^ip(\d{1,3}(?:-\d{1,3}){3})-([a-z0-9]{9,32})$")
_LEGACY = re.compile(r"^(\d{1,3}(?:-\d{1,3}){3})-([a-z0-9]{8})$")


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
    for pattern, legacy in ((_FULL, False), (_LEGACY, True)):
        match = pattern.match(name)
        if match:
            dashed, session = match.groups()
            try:
                ip = str(ipaddress.IPv4Address(dashed.replace("-", ".")))
            except ipaddress.AddressValueError:
                break
            return UserName(ip=ip, session=session, legacy=legacy)
    raise BadUserName(
        f"{username!r} is not a playground user: log in as ip<a-b-c-d>-<session id>, "
        "the ssh command shown for each instance on the session page"
    )
