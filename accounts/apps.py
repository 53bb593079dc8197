from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # This app has no models, so no post_migrate of its own: the group follows auth's tables.
        post_migrate.connect(create_trainers_group, sender=apps.get_app_config("auth"))


def create_trainers_group(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Make the trainers group once auth's tables exist (and again after a flush, which tests do)."""
    from django.contrib.auth.models import Group

    from accounts.trainers import TRAINERS

    Group.objects.using(using).get_or_create(name=TRAINERS)
