from collections.abc import Iterator

import pytest
from hs_api import START, Api
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cosell.clock import ManualClock
from cosell.emulators.hubspot import HubSpotEmulatorConfig, create_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config() -> HubSpotEmulatorConfig:
    return HubSpotEmulatorConfig()


@pytest.fixture
def app(config: HubSpotEmulatorConfig, clock: ManualClock) -> Starlette:
    return create_app(config, clock=clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, app: Starlette, config: HubSpotEmulatorConfig) -> Api:
    return Api(client, app, config.private_app_token)
