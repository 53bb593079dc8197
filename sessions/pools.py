"""Warm pools: which exist, what each boots ahead, and how many sessions it keeps ready.

A pool is named by its key: the public pool of a playground is one spec read from settings; a feature that keeps
its own pool (a workshop's) adds its spec to all_specs().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from sessions.models import Playground

if TYPE_CHECKING:
    from sessions.setup import SetupNode


@dataclass(frozen=True)
class PoolSpec:
    playground: Playground
    name: str
    image: str
    instances: int
    size: int
    # A template (PWD's /setup) each session is set up with instead of `instances` plain nodes; one node each.
    setup: tuple[SetupNode, ...] = ()

    @property
    def key(self) -> str:
        """Return the pool's key: what its sessions boot is part of it, so changing that makes a new pool."""
        return f"{self.name}:{self.image}:{self.instances}"

    def serves(self, image: str) -> bool:
        """Tell whether a start asking for this image (empty: the playground's default) may take a session here."""
        return self.size > 0 and (image or self.playground.default_image) == self.image


def public(playground: Playground) -> PoolSpec:
    """Return the pool behind the playground's Start button, sized by the operator (WARM_POOL_SIZE)."""
    return PoolSpec(
        playground=playground,
        name=f"public-{playground.pk}",
        image=playground.default_image,
        instances=min(settings.WARM_POOL_INSTANCES, playground.max_instances),
        size=settings.WARM_POOL_SIZE,
    )


# Features above sessions that keep pools of their own (workshops/apps.py registers its pools here).
_providers: list[Callable[[], list[PoolSpec]]] = []


def register(provider: Callable[[], list[PoolSpec]]) -> None:
    """Add a source of pool specs to all_specs(); a feature above sessions calls this once, from its AppConfig."""
    if provider not in _providers:
        _providers.append(provider)


def all_specs() -> list[PoolSpec]:
    """Return every pool that should exist now; warm sessions of any other key are retired."""
    specs = [public(playground) for playground in Playground.objects.order_by("pk")]
    return specs + [spec for provider in _providers for spec in provider()]
