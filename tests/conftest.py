"""Shared fixtures: per-test database, Redis key prefix, emulators, services and app.

Without service URLs the suite runs on embedded defaults (SQLite, fakeredis, amqtt). With
DATABASE_URL / REDIS_URL / MQTT_URL set it runs against those; REQUIRE_SERVICES=1 turns an
unreachable or unset service into a failure instead of a skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from server import db
from server.adapters.emulators import EmulatorState, emulator_app
from server.app import create_app
from server.services import Services
from server.settings import Settings, load_settings
from tests.support.databases import TemplateDatabase
from tests.support.servers import serving

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "MQTT_URL")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = []
    ports = {"DATABASE_URL": 5432, "REDIS_URL": 6379, "MQTT_URL": 1883}
    for var in SERVICE_VARS:
        url = os.environ.get(var, "")
        if not url or url.startswith(("sqlite", "memory", "embedded")):
            problems.append(f"{var} must point at a real service when REQUIRE_SERVICES=1")
        elif not _reachable(url, ports[var]):
            problems.append(f"{var}={url} is not reachable")
    if problems:
        raise pytest.UsageError("; ".join(problems))


def require(condition: bool, reason: str) -> None:
    """Skip when a real service is absent, but fail when REQUIRE_SERVICES=1."""
    if not condition:
        if REQUIRE_SERVICES:
            pytest.fail(f"required service missing: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> TemplateDatabase:
    base = os.environ.get("DATABASE_URL") or "sqlite://unused"
    template = TemplateDatabase(base, tmp_path_factory.mktemp("db"))
    template.create()
    yield template
    template.destroy()


@pytest.fixture
async def database_url(template_db: TemplateDatabase) -> AsyncIterator[str]:
    """A fresh migrated database for this test, connected as tortoise's default."""
    url = await template_db.new()
    await db.connect(url)
    yield url
    await db.close()
    await template_db.drop(url)


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[str, EmulatorState]]:
    """WeChat and SMS emulators served on a real loopback port; yields (base URL, state)."""
    state = EmulatorState()
    async with serving(emulator_app(state)) as base_url:
        yield base_url, state


@pytest.fixture
def settings(database_url: str, emulator: tuple[str, EmulatorState], tmp_path: Path) -> Settings:
    base_url, _ = emulator
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL") or f"memory://{uuid.uuid4().hex}",
        "MQTT_URL": os.environ.get("MQTT_URL") or "embedded://",
        "WECHAT_API_BASE": f"{base_url}/_emulator/wechat",
        "SMS_ENDPOINT": f"{base_url}/_emulator/sms",
        "WUYE_MEDIA_DIR": str(tmp_path / "media"),
        "WUYE_SECRET_KEY": "test-secret",
    }
    loaded = load_settings(env=env)
    return loaded.with_(redis_prefix=f"t{uuid.uuid4().hex[:12]}:")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    started = await Services.start(settings, connect_db=False)
    yield started
    keys = [k async for k in started.redis.scan_iter(f"{settings.redis_prefix}*")]
    if keys:
        await started.redis.delete(*keys)
    await started.close()


@pytest.fixture
def app(settings: Settings, services: Services):  # type: ignore[no-untyped-def]
    web = create_app(settings, services)
    web.config.TOUCHUP = False  # touch-up rewrites Sanic's class once per process: breaks a 2nd app
    return web


@pytest.fixture
def wechat_calls(emulator: tuple[str, EmulatorState]) -> EmulatorState:
    return emulator[1]


# --- MQTT (appended by the MQTT connection layer; server/adapters/mqtt.py) -----------------------

from server.adapters.mqtt import BrokerAddress, open_broker, parse_mqtt_url  # noqa: E402


@pytest.fixture
async def mqtt_broker(settings: Settings) -> AsyncIterator[BrokerAddress]:
    """The broker of settings.mqtt_url: an embedded one started for this test, or the real one."""
    real = parse_mqtt_url(settings.mqtt_url)
    if real is not None:
        require(_reachable(settings.mqtt_url, 1883), f"MQTT broker {settings.mqtt_url} unreachable")
    async with open_broker(settings.mqtt_url, settings.mqtt_embedded_port) as address:
        yield address


@pytest.fixture
def mqtt_prefix() -> str:
    """A topic prefix of this test alone (not `wuye`): tests sharing a broker never mix."""
    return f"wuye_t{uuid.uuid4().hex[:12]}"
