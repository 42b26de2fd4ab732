"""PostgreSQL restarted under load, and a database too slow for WeChat's 5 seconds.

A push the server could not record gets a 503 (never a 500, never a stack trace) so WeChat
pushes it again; once the database is back every push is recorded and answered exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import suppress
from typing import Any

import asyncpg
import pytest

import bot.handlers
import bot.webhook
from server import db
from server.app import create_app
from server.db.inbound import InboundMessage
from server.db.migrate import migrate
from server.services import Services
from server.settings import Settings
from tests.support.private_services import private_postgres
from tests.support.wechat import WechatPusher

SENDERS = 10


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """MsgIds the bot answered, with how often (the real handler still answers)."""
    seen: Counter[str] = Counter()
    real = bot.handlers.handle

    async def counting(message: Any, services: Any) -> str | None:
        seen[str(message.id)] += 1
        return await real(message, services)

    monkeypatch.setattr(bot.handlers, "handle", counting)
    return seen


async def test_postgres_restart_under_load_loses_and_repeats_no_push(
    settings: Settings, handled: Counter[str]
) -> None:
    with private_postgres() as pg:
        await db.close()  # this test's tortoise connection goes to the private server
        await migrate(pg.url)
        await db.connect(pg.url)
        mine = settings.with_(database_url=pg.url)
        services = await Services.start(mine, connect_db=False)
        try:
            app = create_app(mine, services)
            app.config.TOUCHUP = False
            wechat = WechatPusher.for_settings(mine)
            statuses: dict[str, list[int]] = {}
            pushes: dict[str, str] = {}

            async def push(msg_id: str) -> None:
                response = await wechat.post(app.asgi_client, pushes[msg_id])
                statuses.setdefault(msg_id, []).append(response.status)

            async def load(wave: int) -> None:
                batch = []
                for n in range(SENDERS):
                    msg_id = str(7_000_000 + wave * 100 + n)
                    pushes[msg_id] = wechat.text(f"oFAULT{n:020d}", "你好", msg_id=int(msg_id))
                    batch.append(push(msg_id))
                await asyncio.gather(*batch)

            await load(0)
            stopping = asyncio.create_task(asyncio.to_thread(pg.stop))
            for wave in range(1, 4):  # pushes while the server shuts down and is down
                await load(wave)
            await stopping
            await load(4)
            await asyncio.to_thread(pg.start)
            await load(5)
            # WeChat pushes again what got no 200 (up to three times; here until it lands)
            for _ in range(20):
                retry = [m for m, seen in statuses.items() if seen[-1] != 200]
                if not retry:
                    break
                await asyncio.gather(*(push(m) for m in retry))
                await asyncio.sleep(0.2)

            every_status = {s for seen in statuses.values() for s in seen}
            assert every_status <= {200, 503}
            assert 503 in every_status  # the outage was seen...
            assert all(seen[-1] == 200 for seen in statuses.values())  # ...and got over
            recorded = await InboundMessage.all().values_list("dedupe_key", flat=True)
            assert sorted(recorded) == sorted(pushes)
            assert set(handled) == set(pushes)
            assert set(handled.values()) == {1}
        finally:
            await services.close()
            # the pool waits out connections broken by the restart: bounded, it is a test's end
            with suppress(TimeoutError):
                await asyncio.wait_for(db.close(), 2)


async def test_webhook_answers_in_time_while_the_database_is_stuck(
    settings: Settings, services: Services, emulator: tuple[str, Any]
) -> None:
    mine = settings.with_(reply_budget_s=0.5)
    app = create_app(mine, services)
    app.config.TOUCHUP = False
    wechat = WechatPusher.for_settings(mine)
    dsn = settings.database_url.replace("postgres://", "postgresql://", 1)
    blocker = await asyncpg.connect(dsn)
    transaction = blocker.transaction()
    await transaction.start()
    await blocker.execute("LOCK TABLE inbound_messages IN ACCESS EXCLUSIVE MODE")
    try:
        response = await wechat.post(app.asgi_client, wechat.text("oSLOWDB", "你好"))
        # answered while the table is still locked: WeChat is not kept waiting past 5 s
        assert (response.status, response.text) == (200, "success")
        assert not blocker.is_closed() and blocker.is_in_transaction()
    finally:
        await transaction.rollback()
        await blocker.close()
    await bot.webhook.drain_deferred(app)
    assert await InboundMessage.filter(openid="oSLOWDB").count() == 1
    _, state = emulator
    sends = state.calls(kind="custom", openid="oSLOWDB")
    assert len(sends) == 1  # the reply came as a customer-service message
