"""Fault tests: CI's real-services mode (DATABASE_URL set), on private servers they restart."""

from __future__ import annotations

import os

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.support.private_services import missing_binaries


@pytest.fixture(autouse=True)
def real_services_mode() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("fault tests run in real-services mode (DATABASE_URL=postgres://...)")
    missing = missing_binaries()
    if missing:
        message = f"fault tests need {', '.join(missing)} (Debian packages)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
