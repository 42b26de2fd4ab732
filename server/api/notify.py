"""Notification endpoints: Aliyun SMS receipts, mini-program subscribe consent, delivery status.

- `POST /sms/receipts?token=...` takes Aliyun's SmsReport HTTP batch push (a JSON array).
  Aliyun signs nothing on this push and only lets us configure a URL, so the URL carries a
  shared secret: `token` in the query (or the `X-Receipt-Token` header), compared in constant
  time with SMS_RECEIPT_TOKEN. An empty setting turns the endpoint off (403).
- `POST /api/v1/notify/subscriptions` records what wx.requestSubscribeMessage answered.
- `GET /api/v1/tasks/<ref>/deliveries` lists every message about a task and how it went.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.notify import (
    CONSENT_ANSWERS,
    deliveries_of,
    delivery_view,
    record_consent,
    record_receipt,
    task_subject,
)
from server.api.access import ANY_STAFF, SIGNED_IN, endpoint, principal_of
from server.api.errors import ApiError
from server.api.tasks import scoped_task

bp = Blueprint("api_notify")
MAX_REPORTS = 1000  # Aliyun batches reports; a bigger body is not from Aliyun


def _now() -> datetime:
    return datetime.now(UTC)


def _receipt_token_ok(request: Request) -> bool:
    expected = request.app.ctx.services.settings.notify.sms_receipt_token
    given = request.args.get("token") or request.headers.get("x-receipt-token") or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@bp.post("/sms/receipts")
async def sms_receipts(request: Request) -> HTTPResponse:
    """Aliyun SmsReport: [{phone_number, success, err_code, err_msg, biz_id, out_id, ...}].

    Answer `{"code": 0}` with HTTP 200 once stored: any other answer makes Aliyun push the same
    reports again (after 1, 5 and 10 minutes), which is harmless, as each OutId is kept once.
    """
    if not _receipt_token_ok(request):
        raise ApiError(403, "forbidden", "bad or missing receipt token")
    try:
        reports = request.json
    except Exception as exc:  # sanic raises BadRequest subclasses on malformed JSON
        raise ApiError(400, "bad_json", "the body is not valid JSON") from exc
    if not isinstance(reports, list) or len(reports) > MAX_REPORTS:
        raise ApiError(400, "bad_body", "the body must be a JSON array of reports")
    now = _now()
    for report in reports:
        if not isinstance(report, dict):
            raise ApiError(400, "bad_body", "every report must be a JSON object")
        out_id = str(report.get("out_id") or "")
        if not out_id:
            continue  # not one of ours: we always send an OutId
        await record_receipt(
            "sms",
            out_id,
            ok=report.get("success") is True,
            status=str(report.get("err_code") or ("DELIVERED" if report.get("success") else "")),
            now=now,
            raw={k: report.get(k) for k in ("biz_id", "err_code", "err_msg", "report_time")},
        )
    return json({"code": 0, "msg": "ok"})


SUBSCRIPTIONS_BODY: dict[str, Any] = {
    "type": "object",
    "description": "wx.requestSubscribeMessage's success result: {template_id: accept|reject|ban|"
    "filter} (errMsg may stay in)",
    "properties": {"errMsg": {"type": "string", "maxLength": 200}},
}


@endpoint(
    bp,
    "POST",
    "/api/v1/notify/subscriptions",
    allow=SIGNED_IN,
    summary="Record the mini-program subscribe answers (one send per accept)",
    body=SUBSCRIPTIONS_BODY,
    response={
        "type": "object",
        "properties": {"remaining": {"type": "object"}, "ignored": {"type": "array"}},
    },
)
async def post_subscriptions(request: Request) -> HTTPResponse:
    p = principal_of(request)
    if not p.openid:
        raise ApiError(400, "no_openid", "this sign-in carries no mini-program openid")
    ours = set(request.app.ctx.services.settings.miniapp_templates.values())
    answers: dict[str, str] = {}
    ignored: list[str] = []
    for template_id, answer in request.ctx.body.items():
        if template_id == "errMsg":
            continue
        if not isinstance(answer, str) or answer not in CONSENT_ANSWERS:
            raise ApiError(
                400, "bad_field", f"'{template_id}' must be accept, reject, ban or filter"
            )
        if template_id in ours:
            answers[template_id] = answer
        else:
            ignored.append(template_id)  # not a template we send: nothing to remember
    remaining = await record_consent("miniapp", p.openid, answers, _now())
    return json({"remaining": remaining, "ignored": sorted(ignored)})


@endpoint(
    bp,
    "GET",
    "/api/v1/tasks/<ref:str>/deliveries",
    allow=ANY_STAFF,
    summary="Every message about a task: channel, status, attempts, receipt",
    response={
        "type": "object",
        "properties": {"items": {"type": "array"}, "summary": {"type": "object"}},
    },
)
async def get_task_deliveries(request: Request, ref: str) -> HTTPResponse:
    # The tasks API's scope: the caller's communities, and a contractor's own jobs only.
    task = await scoped_task(request, ref)
    tz = ZoneInfo(request.app.ctx.services.settings.tz_name)
    rows = await deliveries_of(task_subject({"ref": task.ref}))
    summary: dict[str, int] = {}
    for row in rows:
        summary[row.status] = summary.get(row.status, 0) + 1
    return json(
        {"ref": task.ref, "items": [delivery_view(r, tz) for r in rows], "summary": summary}
    )
