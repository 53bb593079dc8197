"""The SSH gateway: an asyncssh server that admits learners to their own instances only."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable
from typing import Any

import asyncssh
from django.conf import settings

import metrics
from engine import names
from gateway import access, bridge, hostkey, tunnel, usernames
from gateway.ratelimit import FailureLimiter
from sessions.activity import Activity

log = logging.getLogger(__name__)

# AES-GCM costs one OpenSSL call per packet; asyncssh's chacha20-poly1305 costs several Python-level calls and
# halves throughput. OpenSSH prefers ChaCha whenever offered, so it is not. (OpenSSH >= 6.2, PuTTY >= 0.76 do GCM.)
CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
# ssh -L localhost:PORT means "PORT on the instance", as it would with an sshd running inside it.
_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}
# The same words for every short name, whether or not a session matches it.
_SHORT_NAME_NEEDS_KEY = (
    "a short user name opens an instance only with a public key registered on its session page; "
    "or log in as ip<a-b-c-d>-<full session id>, as the session page shows"
)


class GatewayServer(asyncssh.SSHServer):
    """One client connection: decide who it is, then which instance and ports it may reach."""

    def __init__(self, limiter: FailureLimiter) -> None:
        self.limiter = limiter
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = "?"
        self.admitted: access.Target | None = None  # passed the checks; becomes the target once auth succeeds
        self.target: access.Target | None = None
        self.activity: Activity | None = None
        self.legacy_keys: dict[str, access.Target] = {}
        self.key_refused = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.address = str((conn.get_extra_info("peername") or ("?",))[0])

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncssh logs its handlers' exceptions only at debug level; a bug here must not pass silently.
        if exc is not None and not isinstance(exc, (asyncssh.Error, OSError)):
            log.error("connection from %s failed", self.address, exc_info=exc)

    async def begin_auth(self, username: str) -> bool:
        """Admit ip<a-b-c-d>-<session id> at once; ask every other well-formed short name for a key; refuse the rest."""
        self.admitted, self.legacy_keys, self.key_refused = None, {}, False
        try:
            user = usernames.parse(username)
            if user.legacy:
                # Even when no session matches: a refusal here would tell which short names exist.
                self.legacy_keys = await access.off_loop(access.legacy_candidates)(user)
                return True
            self.admitted = await access.off_loop(access.resolve)(user)
        except (usernames.BadUserName, access.Refused) as e:
            raise asyncssh.PermissionDenied(self._failed(username, str(e))) from None
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # A match only lets the client prove it holds the private key; asyncssh then checks its signature.
        self.admitted = self.legacy_keys.get(key.get_fingerprint("sha256"))
        if self.admitted:
            return True
        if not self.key_refused and self.conn:
            # Count a client offering several keys once, and tell it why before its "Permission denied".
            self.key_refused = True
            reason = self._failed(username, _SHORT_NAME_NEEDS_KEY)
            self.conn.send_auth_banner(f"{username}: {reason}\n")
        return False

    def _failed(self, username: str, reason: str) -> str:
        """Count a failed login and return what to tell the client: past the limit, only that it must wait.

        The limit is checked on failures alone, never before a login is tried: whoever hammers a name or a
        session from the same address (a classroom behind one NAT) must not lock out the learner who holds
        the right session id or key.
        """
        wait = self.limiter.wait_seconds(self.address)
        self.limiter.failed(self.address)
        log.info("refused %s from %s: %s", username, self.address, reason)
        if wait:
            return f"too many failed logins from {self.address}: try again in {math.ceil(wait)} seconds"
        return reason

    def auth_completed(self) -> None:
        assert self.admitted is not None
        self.target = self.admitted
        self.activity = Activity(self.target.session_id)
        metrics.SSH_LOGINS.inc()
        log.info("%s enters %s (session %s)", self.address, self.target.container, names.short(self.target.session_id))

    def session_requested(self) -> bridge.ExecSession | bool:
        if self.target is None or self.activity is None:
            return False
        return bridge.ExecSession(self.target, self.activity)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool | Awaitable[Any]:
        """Forward ssh -L / -W connections to ports of the client's own instance, and nowhere else."""
        if self.target is None or self.activity is None:
            return False
        if dest_host not in _LOCAL_NAMES | {self.target.ip, self.target.hostname}:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"only ports of {self.target.hostname} ({self.target.ip}) can be forwarded, not {dest_host}",
            )
        self.activity.seen()
        return self._tunnel(self.target, dest_port)

    async def _tunnel(self, target: access.Target, port: int) -> Any:
        # Checked at each channel, not only at login: a connection kept open past its session's end must not
        # reach whatever instance gets that address next.
        if not await access.off_loop(access.still_reachable)(target):
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, f"{target.hostname} is gone: its session has ended"
            )
        # An instance of another host's engine is connected to from inside it (engine/relay).
        reached = await access.off_loop(access.tunnels_reach)(target)
        return await tunnel.open_tunnel(target.ip, port, None if reached else (target.daemon, target.container))


async def start(bind: str, port: int) -> asyncssh.SSHAcceptor:
    """Listen for ssh clients on bind:port (0 picks a free port) with the kept ed25519 host key."""
    limiter = FailureLimiter(settings.SSH_GATEWAY_FAILURE_BURST, settings.SSH_GATEWAY_FAILURES_PER_MINUTE)
    return await asyncssh.create_server(
        lambda: GatewayServer(limiter),
        bind,
        port,
        server_host_keys=[hostkey.load_or_create(settings.SSH_GATEWAY_HOST_KEY)],
        server_version="PlaygroundGateway",
        encryption_algs=CIPHERS,
        encoding=None,
        line_editor=False,
        agent_forwarding=False,
        x11_forwarding=False,
        keepalive_interval=60,
    )
