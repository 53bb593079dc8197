"""Trainers are staff or members of the trainers group; nobody else is."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from accounts.trainers import is_trainer


def test_it_counts_staff_as_trainers(alice: User) -> None:
    assert is_trainer(alice)


def test_it_counts_the_trainers_group(bob: User) -> None:
    assert is_trainer(bob)


def test_it_refuses_everyone_else(charlie: User) -> None:
    assert not is_trainer(charlie)
    assert not is_trainer(AnonymousUser())


def test_it_refuses_a_deactivated_trainer(alice: User, bob: User) -> None:
    User.objects.filter(pk__in=[alice.pk, bob.pk]).update(is_active=False)
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert not is_trainer(alice)
    assert not is_trainer(bob)
