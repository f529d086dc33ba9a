"""Fixtures of the controller-edge tests: a fake controller over real HTTP and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from akod.avi import AviClient, Pacer

from .fake_controller import FakeController

FAST_BACKOFF: dict[str, Any] = {"backoff_base_s": 0.001, "backoff_cap_s": 0.01}


@dataclass
class CallLog:
    """A `CallObserver` that keeps every attempt it is told about."""

    calls: list[tuple[str, str, int | None]] = field(default_factory=list)

    def on_call(self, *, method: str, obj_type: str, status: int | None, elapsed_s: float) -> None:
        assert elapsed_s >= 0
        self.calls.append((method, obj_type, status))


@pytest.fixture
async def fake() -> AsyncIterator[FakeController]:
    async with FakeController() as controller:
        yield controller


@pytest.fixture
def calls() -> CallLog:
    return CallLog()


@pytest.fixture
def make_client(fake: FakeController, calls: CallLog) -> Callable[..., AviClient]:
    """An unopened client of `fake` with fast backoff; keyword arguments override."""

    def make(**overrides: Any) -> AviClient:
        options: dict[str, Any] = {
            "base_url": fake.url,
            "username": fake.username,
            "password": fake.password,
            "pacer": Pacer(rate=0, burst=1, workers=8),
            "observer": calls,
            "timeout_s": 5.0,
            **FAST_BACKOFF,
            **overrides,
        }
        return AviClient(**options)

    return make


@pytest.fixture
async def client(make_client: Callable[..., AviClient]) -> AsyncIterator[AviClient]:
    async with make_client() as opened:
        yield opened
