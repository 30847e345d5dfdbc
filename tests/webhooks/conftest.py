"""Fixtures for webhook verification tests."""

from __future__ import annotations

import pytest
from webhook_pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki() -> Pki:
    return make_pki()
