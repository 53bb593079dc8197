"""Public keys learners register on a session, for PWD's legacy ssh user names."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from gateway.keys import PublicKey
from sessions.lifecycle import SandboxError
from sessions.models import Session

MAX_KEYS_PER_SESSION = 10


class TooManyKeys(SandboxError):
    """The session already holds MAX_KEYS_PER_SESSION keys."""

    status = 409
    code = "max_keys"


class AuthorizedKey(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="ssh_keys")
    public_key = models.TextField(help_text="<algorithm> <base64>, as in a .pub file.")
    comment = models.CharField(max_length=100, blank=True)
    fingerprint = models.CharField(max_length=64)
    algorithm = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "fingerprint"], name="unique_key_per_session")]

    def __str__(self) -> str:
        return f"{self.fingerprint} ({self.comment})" if self.comment else self.fingerprint

    @classmethod
    def register(cls, session: Session, key: PublicKey) -> AuthorizedKey:
        """Add the key to the session, or return it when it is already there."""
        with transaction.atomic():
            # Two registrations at once would both count the keys below the limit and both insert. Locking the
            # session's row first makes the second wait until the first committed, and count its key too.
            # (SQLite has no row locks; its transactions begin IMMEDIATE here, taking the write lock at once.)
            Session.objects.select_for_update().get(pk=session.pk)
            existing = cls.objects.filter(session=session, fingerprint=key.fingerprint).first()
            if existing:
                return existing
            if cls.objects.filter(session=session).count() >= MAX_KEYS_PER_SESSION:
                raise TooManyKeys(f"a session may hold at most {MAX_KEYS_PER_SESSION} keys; delete one first")
            return cls.objects.create(
                session=session,
                fingerprint=key.fingerprint,
                public_key=key.openssh,
                comment=key.comment,
                algorithm=key.algorithm,
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "algorithm": self.algorithm,
            "comment": self.comment,
            "public_key": self.public_key,
            "created_at": self.created_at.isoformat(),
        }
