"""Seeding skips images whose recipe has not changed, so set-up stays quick after the first run."""

import io

from django.core.management import call_command

from mirror import images


def test_it_reports_an_up_to_date_mirror(mirror: str) -> None:
    out = io.StringIO()
    call_command("seed_mirror", stdout=out)
    assert out.getvalue().strip() == f"the mirror is up to date ({', '.join(images.names())})"
