"""Fixtures every test uses; hosts made through ``machine`` are checked after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

pytest.register_assert_rewrite("worlds")

import xenballoon as xb  # noqa: E402


@pytest.fixture
def sim() -> xb.Simulation:
    return xb.Simulation()


@pytest.fixture
def machine() -> Iterator[Callable[..., xb.Hypervisor]]:
    """Make hypervisors; after the test, every one of them and its guests must check out."""
    made: list[xb.Hypervisor] = []

    def make(total_pages: int = 65536, **kwargs: object) -> xb.Hypervisor:
        hv = xb.Hypervisor(xb.Simulation(), total_pages, **kwargs)  # type: ignore[arg-type]
        made.append(hv)
        return hv

    yield make
    for hv in made:
        hv.check(guests=True)


@pytest.fixture
def boot(machine: Callable[..., xb.Hypervisor]) -> Callable[..., xb.Balloon]:
    """A guest of ``memory`` pages with its balloon, on a host of ``host`` pages."""

    def make(memory: int = 4096, host: int = 65536, *, maxmem: int | None = None,
             guest_kw: dict | None = None, **balloon_kw: object) -> xb.Balloon:
        hv = machine(host)
        domain = hv.create_domain(memory, maxmem=maxmem)
        guest = xb.Guest(domain, **(guest_kw or {}))
        return xb.Balloon(guest, **balloon_kw)  # type: ignore[arg-type]

    return make
