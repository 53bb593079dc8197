"""The product is layered: engine, accounts, metrics < sessions < router, gateway, mirror, terminals, workshops
< playground.

A module imports from its own package and from lower layers only: never from a higher layer, nor from a
package beside it, so each can be read, tested and changed without those built on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

LAYERS = {
    "accounts": 0,
    "engine": 0,
    "metrics": 0,
    "sessions": 1,
    "router": 2,
    "gateway": 2,
    "mirror": 2,
    "terminals": 2,
    "workshops": 2,
    "playground": 3,
}


def imported_packages(path: Path) -> set[str]:
    """Return the top-level packages a module imports, anywhere in it (functions and TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.partition(".")[0])
    return found


def climbs(package: str) -> list[str]:
    root = Path(settings.BASE_DIR)
    return [
        f"{path.relative_to(root)} imports {other}"
        for path in sorted((root / package).rglob("*.py"))
        for other in sorted(imported_packages(path) & LAYERS.keys())
        if other != package and LAYERS[other] >= LAYERS[package]
    ]


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_it_imports_only_from_lower_layers(package: str) -> None:
    assert climbs(package) == []


def test_it_sees_a_climb(tmp_path: Path) -> None:
    module = tmp_path / "climber.py"
    module.write_text("import engine\n\ndef later() -> None:\n    from router.credentials import Connection\n")
    assert imported_packages(module) == {"engine", "router"}
