"""Fixtures for the Partner Center emulator: an app on a manual clock and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pc_helpers import Receiver, password_token
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.partner_center import PartnerCenterEmulatorConfig, create_app
from cosell.emulators.partner_center.emulator import Emulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def config() -> PartnerCenterEmulatorConfig:
    return PartnerCenterEmulatorConfig(delivery_backoff=0.001)


@pytest.fixture
def client(
    config: PartnerCenterEmulatorConfig, clock: ManualClock, receiver: Receiver
) -> Iterator[TestClient]:
    delivery = httpx.Client(transport=httpx.MockTransport(receiver))
    app = create_app(config, clock=clock, delivery_client=delivery)
    with TestClient(app) as test_client:
        yield test_client
    delivery.close()


@pytest.fixture
def emulator(client: TestClient) -> Emulator:
    emulator: Emulator = client.app.state.emulator  # type: ignore[attr-defined]
    return emulator


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {password_token(client)['access_token']}"}
