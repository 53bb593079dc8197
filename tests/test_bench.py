"""The benchmarks stay runnable: each script starts and answers --help (a bench broken by a refactor is found here,
not on the quiet machine an hour of figures was booked for)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
# Modules of the others, not scripts: what they share, and the reference servers and client they start.
NOT_SCRIPTS = {"__init__.py", "start.py", "measure.py", "terminal_client.py", "terminado_server.py"}


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if p.name not in NOT_SCRIPTS))
def test_it_answers_help(script: str) -> None:
    answer = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert answer.returncode == 0, answer.stderr
