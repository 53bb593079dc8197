"""A small cast: alice is staff, bob is in the trainers group, charlie is a plain account."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from accounts.trainers import TRAINERS

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password=PASSWORD, is_staff=True)


@pytest.fixture
def bob(db: None) -> User:
    bob = User.objects.create_user("bob", password=PASSWORD)
    bob.groups.add(Group.objects.get(name=TRAINERS))
    return bob


@pytest.fixture
def charlie(db: None) -> User:
    return User.objects.create_user("charlie", password=PASSWORD)
