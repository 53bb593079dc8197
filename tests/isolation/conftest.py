from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daphne import Daphne, start_daphne, stop_daphne


@pytest.fixture
def daphne(transactional_db: None, tmp_path: Path) -> Iterator[Daphne]:
    server = start_daphne(tmp_path / "daphne.log")
    yield server
    stop_daphne(server)
