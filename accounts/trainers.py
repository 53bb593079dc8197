"""Who is a trainer: staff, or a member of the trainers group (made after each migrate, accounts/apps.py)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AbstractUser, AnonymousUser

TRAINERS = "trainers"


def is_trainer(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Tell whether the user may run workshops."""
    if not isinstance(user, AbstractUser) or not user.is_active:
        return False
    return user.is_staff or user.groups.filter(name=TRAINERS).exists()
