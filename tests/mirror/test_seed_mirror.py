"""Seeding skips images whose recipe has not changed, so set-up stays quick after the first run."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from mirror import images


def test_it_reports_an_up_to_date_mirror(mirror: str) -> None:
    out = io.StringIO()
    call_command("seed_mirror", stdout=out)
    assert out.getvalue().strip() == f"the mirror is up to date ({', '.join(images.names())})"


def test_it_seeds_only_the_images_named(mirror: str) -> None:
    # The compose deployment's quick start seeds hello-world alone (MIRROR_SEED).
    out = io.StringIO()
    call_command("seed_mirror", "hello-world", stdout=out)
    assert out.getvalue().strip() == "the mirror is up to date (hello-world)"


def test_it_refuses_an_unknown_image_name() -> None:
    with pytest.raises(CommandError, match="no such image: nope"):
        call_command("seed_mirror", "nope")
