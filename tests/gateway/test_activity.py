"""Working over ssh counts as activity, so idle culling spares the session."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.utils import timezone

from sessions.models import Session
from tests.gateway.conftest import Ssh, user_for


def test_it_records_ssh_traffic_as_activity(ssh: Ssh, node: dict[str, Any]) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    Session.objects.filter(pk=node["session_id"]).update(last_activity_at=long_ago)
    assert ssh.run(user_for(node), "true").returncode == 0
    # The gateway records it off its event loop, possibly a moment after the command ended.
    for _ in range(50):
        if Session.objects.get(pk=node["session_id"]).last_activity_at > long_ago + timedelta(minutes=59):
            return
        time.sleep(0.1)
    raise AssertionError("the ssh session was not recorded as activity")
