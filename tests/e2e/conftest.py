"""Fixtures for the end-to-end tests: one ``cosell sandbox --no-seed`` per test module, and the
people who act on each side of it. Every subprocess is stopped by a finalizer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_sandbox import SandboxProcess, running_sandbox
from e2e_sides import CrmSeller, MicrosoftSeller, PartnerCenterReader


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    state_dir = tmp_path_factory.mktemp("sandbox") / "state"
    with running_sandbox(state_dir, "--no-seed") as running:
        yield running


@pytest.fixture
def microsoft(sandbox: SandboxProcess) -> Iterator[MicrosoftSeller]:
    seller = MicrosoftSeller(sandbox.manifest)
    yield seller
    seller.clear_faults()
    seller.close()


@pytest.fixture
def pc(sandbox: SandboxProcess) -> Iterator[PartnerCenterReader]:
    reader = PartnerCenterReader(sandbox.manifest)
    yield reader
    reader.close()


@pytest.fixture
def crm(sandbox: SandboxProcess) -> Iterator[CrmSeller]:
    seller = CrmSeller(sandbox.manifest)
    yield seller
    seller.clear_faults()
    seller.close()
