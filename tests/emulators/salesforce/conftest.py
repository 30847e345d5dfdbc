from collections.abc import Iterator

import pytest
from sf_api import START, Api, TestClient, login
from starlette.applications import Starlette

from cosell.clock import ManualClock
from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config() -> SalesforceEmulatorConfig:
    return SalesforceEmulatorConfig()


@pytest.fixture
def app(config: SalesforceEmulatorConfig, clock: ManualClock) -> Starlette:
    return create_app(config, clock=clock)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient, app: Starlette, config: SalesforceEmulatorConfig) -> Api:
    return Api(client, app, login(client, config))
