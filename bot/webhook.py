"""`/wechat/official`: WeChat's server verification (GET) and message pushes (POST).

Protocol rules live in bot/protocol.py, the answers in bot/handlers.py, the write in
server/actions/inbound.py; this module wires them to HTTP and keeps the 5-second budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, text

from bot import handlers, protocol
from server.actions.inbound import record_inbound
from server.api.errors import error_response
from server.metrics import METRICS
from server.settings import Settings
from templates_msg import render_text

log = logging.getLogger("wuye.bot.webhook")

bp = Blueprint("wechat_official")

PUSHES = "wuye_webhook_pushes_total"
DEFERRED = "wuye_webhook_deferred_replies_total"


def wall_clock() -> float:
    """Unix time for the timestamp window; tests replace it to pin the clock."""
    return time.time()


@bp.get("/wechat/official")
async def verify(request: Request) -> HTTPResponse:
    """Server configuration check: echo `echostr` when the signature proves it is WeChat."""
    settings: Settings = request.app.ctx.settings
    args = request.args
    if not protocol.signature_ok(
        settings.wechat_token,
        args.get("signature", ""),
        args.get("timestamp", ""),
        args.get("nonce", ""),
    ):
        METRICS.inc(PUSHES, outcome="verify_refused")
        return error_response(403, "forbidden", "bad signature")
    echostr = args.get("echostr")
    if not echostr:
        return error_response(400, "bad_request", "echostr is required")
    METRICS.inc(PUSHES, outcome="verified")
    return text(echostr)


@bp.post("/wechat/official")
async def push(request: Request) -> HTTPResponse:
    """One push: authenticate, mark as seen (once), answer within budget or reply later."""
    started = time.monotonic()  # WeChat's 5 s run from the request, the dedupe write included
    settings: Settings = request.app.ctx.settings
    services = request.app.ctx.services
    try:
        pushed = protocol.open_push(
            request.body,
            {key: values[0] for key, values in request.args.items()},
            token=settings.wechat_token,
            aes_key=settings.wechat_aes_key,
            appid=settings.wechat_appid,
            now_s=wall_clock(),
            max_skew_s=settings.push_max_skew_s,
        )
    except protocol.PushRefused as refused:
        METRICS.inc(PUSHES, outcome=f"refused_{refused.reason}")
        log.warning("refused push from %s: %s", request.ip, refused.reason)
        return error_response(403, "forbidden", refused.reason)
    except protocol.BadPush as bad:
        METRICS.inc(PUSHES, outcome=f"bad_{bad.reason}")
        log.warning("unusable push from %s: %s", request.ip, bad.reason)
        code = "too_large" if bad.status == 413 else "bad_request"
        return error_response(bad.status, code, bad.reason)

    work = asyncio.create_task(_record_and_answer(pushed.message, services))
    left_s = settings.reply_budget_s - (time.monotonic() - started)
    done, _ = await asyncio.wait({work}, timeout=max(left_s, 0.0))
    if not done:
        # WeChat gives up after 5 s and retries; answer now and send the reply as a
        # customer-service message when it is ready (the user just wrote: the 48 h window is
        # open). A slow database lands here too: the push is recorded when it gets through.
        openid = protocol.describe(pushed.message).openid
        _keep(request.app, asyncio.create_task(_deliver_later(work, openid, services)))
        METRICS.inc(PUSHES, outcome="deferred")
        return text(protocol.SUCCESS)
    try:
        outcome, reply = work.result()
    except Exception:
        # Not recorded (the database is down): a 5xx makes WeChat push it again later.
        log.exception("could not record a push")
        METRICS.inc(PUSHES, outcome="unavailable")
        return error_response(503, "unavailable", "try again shortly")
    METRICS.inc(PUSHES, outcome=outcome)
    if outcome == "duplicate":
        return text(protocol.SUCCESS)
    return _reply(pushed, reply, settings)


async def _record_and_answer(message: Any, services: Any) -> tuple[str, str | None]:
    """Mark the push as seen (once), then answer it: (outcome for the metrics, reply)."""
    facts = protocol.describe(message)
    fresh = await record_inbound(
        dedupe_key=facts.dedupe_key,
        openid=facts.openid,
        kind=facts.kind,
        content=facts.content,
        received_at=datetime.now(UTC),
        opens_window=facts.opens_window,
        subscribed=facts.subscribed,
        scene=facts.scene,
    )
    if not fresh:
        # A WeChat retry of a push we already have (or are still handling): say nothing twice.
        return "duplicate", None
    reply = await _answer(message, services)
    return ("replied" if reply else "no_reply"), reply


def _reply(pushed: Any, reply: str | None, settings: Settings) -> HTTPResponse:
    body = protocol.render_reply(
        pushed,
        reply,
        token=settings.wechat_token,
        aes_key=settings.wechat_aes_key,
        appid=settings.wechat_appid,
    )
    if body == protocol.SUCCESS:
        return text(body)
    return text(body, content_type="application/xml; charset=utf-8")


async def _answer(message: Any, services: Any) -> str | None:
    """The handler's reply; a crash is logged and the user is asked to retry, never left silent."""
    try:
        return await handlers.handle(message, services)
    except Exception:
        log.exception("bot handler failed for %s push", message.type)
        METRICS.inc("wuye_webhook_handler_errors_total")
        return render_text("busy_retry")


async def _deliver_later(
    work: asyncio.Task[tuple[str, str | None]], openid: str, services: Any
) -> None:
    try:
        _, reply = await work
    except Exception:
        log.exception("a push held up past the reply budget could not be recorded")
        METRICS.inc(DEFERRED, result="failed")
        return
    if not reply:
        METRICS.inc(DEFERRED, result="nothing")
        return
    try:
        await services.wechat.send_custom_text(openid, reply)
    except Exception:
        # 45015 (outside the 48 h window) or a network failure: the reply is lost, say so loudly.
        log.exception("could not deliver a late reply to %s", openid)
        METRICS.inc(DEFERRED, result="failed")
        return
    METRICS.inc(DEFERRED, result="sent")


def _keep(app: Sanic[Any, Any], task: asyncio.Task[None]) -> None:
    """Hold a strong reference: the event loop keeps only weak ones, so a task could vanish."""
    pending: set[asyncio.Task[None]] = _pending(app)
    pending.add(task)
    task.add_done_callback(pending.discard)


def _pending(app: Sanic[Any, Any]) -> set[asyncio.Task[None]]:
    pending = getattr(app.ctx, "deferred_replies", None)
    if pending is None:
        pending = app.ctx.deferred_replies = set()
    return pending


async def drain_deferred(app: Sanic[Any, Any]) -> None:
    """Wait for every late reply of `app` to be delivered (shutdown, tests)."""
    pending = _pending(app)
    while pending:
        await asyncio.gather(*list(pending), return_exceptions=True)
