"""The chat simulator: a browser page that plays a WeChat user against the bot (`make run`).

Mounted only while the WeChat API is emulated (settings.wechat_emulated), so a newcomer sees the
product without a WeChat account. Every send is a real push, built, signed and (safe mode)
encrypted by the same WechatPusher the e2e tests use, POSTed over HTTP to this server's own
/wechat/official; the page then shows the passive reply and whatever the emulators recorded for
the chosen person (template, customer-service and subscribe messages, SMS). Not part of /api/v1.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path
from typing import Any

import jinja2
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, html, json, raw

from server.adapters.emulators.push import BadReply, WechatPusher
from server.adapters.emulators.state import EmulatorState
from server.api.errors import ApiError, error_response
from server.db.estate import Community, Room
from server.db.people import Resident, Staff
from server.domain.privacy import mask_phone
from server.settings import Settings
from templates_msg import PAGES_DIR

bp = Blueprint("simulator")

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "static" / "simulator.js"
_pages = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PAGES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)

KINDS = frozenset({"text", "voice", "image", "location", "subscribe", "scan"})
MANAGER_ROLES = frozenset({"manager", "lead"})  # DESIGN.md: "manager / leader" chat instructions
OUTSIDE_OFFSET_M = 2000.0  # the "outside" preset: well beyond any community's check-in geofence
METRES_PER_DEGREE_LAT = 111_320.0
IMAGE_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)


@bp.get("/simulator")
async def page(request: Request) -> HTTPResponse:
    """The chat page; everything else it needs comes from the JSON routes below."""
    settings: Settings = request.app.ctx.settings
    body = _pages.get_template("simulator.html").render(safe_mode=settings.safe_mode)
    return html(body)


@bp.get("/simulator/simulator.js")
async def script(request: Request) -> HTTPResponse:
    """The page's script, served from here: no CDN, no build step."""
    return raw(
        SCRIPT.read_bytes(),
        content_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get("/simulator/identities")
async def identities(request: Request) -> HTTPResponse:
    """Demo people who follow the official account, grouped residents / staff / managers."""
    communities = list(await Community.all().order_by("code"))
    by_id = {c.id: c for c in communities}
    residents = (
        await Resident.filter(openid__isnull=False)
        .exclude(openid="")
        .order_by("id")
        .prefetch_related("bindings__room__unit__building")
    )
    staff = (
        await Staff.filter(openid__isnull=False)
        .exclude(openid="")
        .order_by("employee_no")
        .prefetch_related("communities", "department")
    )
    people_of: dict[str, list[dict[str, Any]]] = {"residents": [], "staff": [], "managers": []}
    for resident in residents:
        rooms = [binding.room for binding in resident.bindings]
        room = min(rooms, key=lambda r: r.id) if rooms else None
        community = by_id.get(room.community_id) if room else None
        people_of["residents"].append(
            _person(resident.openid or "", resident.name, resident.phone, "resident", community)
            | {"room": _room_label(room)}
        )
    for member in staff:
        own = sorted(member.communities, key=lambda c: c.code)
        scope = communities if member.all_communities else own
        group = "managers" if member.role in MANAGER_ROLES else "staff"
        people_of[group].append(
            _person(
                member.openid or "",
                member.name,
                member.phone,
                member.role,
                scope[0] if scope else None,
            )
            | {
                "employee_no": member.employee_no,
                "department": member.department.name,
                "communities": ["*"] if member.all_communities else [c.code for c in own],
            }
        )
    groups = [{"group": name, "people": people} for name, people in people_of.items()]
    return json({"groups": groups})


@bp.post("/simulator/send")
async def send(request: Request) -> HTTPResponse:
    """Play WeChat: push one message as `openid` to /wechat/official and read the reply."""
    body = request.json
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "a JSON object is required")
    openid = str(body.get("openid") or "").strip()
    if not openid or len(openid) > 64:
        raise ApiError(400, "bad_request", "openid is required (at most 64 characters)")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ApiError(400, "bad_request", f"kind must be one of {', '.join(sorted(KINDS))}")

    settings: Settings = request.app.ctx.settings
    pusher = pusher_of(request.app)
    xml = build_push(pusher, request.app.ctx.emulator_state, openid, kind, body)
    signed = pusher.signed(xml)
    try:
        response = await request.app.ctx.services.http.post(
            settings.own_base_url + signed.url,
            content=signed.body,
            headers={"Content-Type": "text/xml"},
        )
    except Exception as exc:  # the transport's errors; only adapters import httpx
        return error_response(502, "unreachable", f"{settings.own_base_url}: {exc}")
    reply = None
    if response.status_code == 200:
        try:
            reply = pusher.read_reply(response.content)
        except BadReply as bad:
            return error_response(502, "bad_reply", str(bad))
    return json({"reply": reply, "push_xml": xml, "status": response.status_code})


@bp.get("/simulator/messages")
async def messages(request: Request) -> HTTPResponse:
    """What the emulators recorded for this person after `since` (unix s), oldest first."""
    openid = request.args.get("openid", "")
    if not openid:
        raise ApiError(400, "bad_request", "openid is required")
    try:
        since = float(request.args.get("since") or 0)
    except ValueError:
        raise ApiError(400, "bad_request", "since must be unix seconds") from None
    settings: Settings = request.app.ctx.settings
    state: EmulatorState = request.app.ctx.emulator_state
    person: Resident | Staff | None = await Resident.get_or_none(openid=openid)
    if person is None:
        person = await Staff.get_or_none(openid=openid)
    openids = {openid}
    if person is not None and person.miniapp_openid:
        openids.add(person.miniapp_openid)  # mini-program subscribe messages go to this openid
    items = [describe_call(call, settings) for o in openids for call in state.calls(openid=o)]
    if person is not None:
        items += [describe_sms(call, settings) for call in state.sms_calls(phone=person.phone)]
    items = sorted((i for i in items if i["time"] > since), key=lambda i: i["time"])
    cursor = max([since] + [i["time"] for i in items])
    return json({"messages": items, "cursor": cursor})


def pusher_of(app: Sanic[Any, Any]) -> WechatPusher:
    """One pusher per app, so MsgIds keep counting up (the webhook dedupes by MsgId)."""
    pusher = getattr(app.ctx, "simulator_pusher", None)
    if pusher is None:
        pusher = app.ctx.simulator_pusher = WechatPusher.for_settings(app.ctx.settings)
    return pusher


def build_push(
    pusher: WechatPusher, state: EmulatorState, openid: str, kind: str, body: dict[str, Any]
) -> str:
    """The message XML for one simulator send; an image is registered as emulator media first."""
    if kind == "text":
        return pusher.text(openid, _required_text(body, "content"))
    if kind == "voice":
        # Speech recognition on: WeChat adds what it heard as <Recognition> (接收语音识别结果).
        return pusher.voice(
            openid, _required_text(body, "content"), media_id=f"sim_voice_{secrets.token_hex(8)}"
        )
    if kind == "image":
        content, content_type = _image(body)
        media_id = f"sim_image_{secrets.token_hex(8)}"
        # The bot fetches the photo by MediaId from media/get (PicUrl is not trusted).
        state.register_media(media_id, content, content_type)
        return pusher.image(openid, media_id=media_id)
    if kind == "location":
        lat, lng = _coordinate(body, "lat", 90.0), _coordinate(body, "lng", 180.0)
        return pusher.location(openid, lat, lng, str(body.get("label") or ""))
    scene = str(body.get("scene") or "").strip()
    if kind == "subscribe":
        return pusher.subscribe(openid, scene or None)
    if not scene:
        raise ApiError(400, "bad_request", "scene is required for a scan")
    return pusher.scan(openid, scene)


def describe_call(call: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One WeChat send as the page shows it: the message kind and its field values."""
    payload = call["payload"]
    item: dict[str, Any] = {
        "id": f"{call['kind']}:{call['msgid']}",
        "time": call["time"],
        "channel": call["kind"],
    }
    if call["kind"] == "custom":
        msgtype = str(payload.get("msgtype", ""))
        text = payload.get("text", {}).get("content", "") if msgtype == "text" else ""
        return item | {"msgtype": msgtype, "text": text}
    ids = {
        "template": settings.wechat_templates,
        "bizsend": settings.wechat_subscribe_templates,
        "subscribe": settings.miniapp_templates,
    }.get(call["kind"], {})
    template_id = str(payload.get("template_id", ""))
    fields = [[key, str(value.get("value", ""))] for key, value in payload.get("data", {}).items()]
    page = payload.get("miniprogram", {}).get("pagepath") or payload.get("page") or ""
    return item | {
        "kind": _kind_of(ids, template_id),
        "template_id": template_id,
        "fields": fields,
        "page": page,
    }


def describe_sms(call: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One SMS as the page shows it: the message kind (by TemplateCode) and its parameters."""
    return {
        "id": f"sms:{call['biz_id']}",
        "time": call["time"],
        "channel": "sms",
        "kind": _kind_of(settings.sms_templates, call["template_code"]),
        "template_id": call["template_code"],
        "fields": [[key, str(value)] for key, value in call["params"].items()],
        "sign_name": call["sign_name"],
        "phone": mask_phone(call["phone"]),
    }


def _kind_of(ids: dict[str, str], template_id: str) -> str:
    return next((kind for kind, tid in ids.items() if tid == template_id), "")


def _person(
    openid: str, name: str, phone: str, role: str, community: Community | None
) -> dict[str, Any]:
    return {
        "openid": openid,
        "name": name,
        "phone": mask_phone(phone),
        "role": role,
        "community": _community_view(community),
    }


def _community_view(community: Community | None) -> dict[str, Any] | None:
    """The community with the two location presets the page offers: its centre and outside."""
    if community is None:
        return None
    return {
        "code": community.code,
        "name": community.name,
        "centre": {"lat": community.lat, "lng": community.lng},
        "outside": {
            "lat": round(community.lat + OUTSIDE_OFFSET_M / METRES_PER_DEGREE_LAT, 6),
            "lng": community.lng,
        },
    }


def _room_label(room: Room | None) -> str:
    if room is None:
        return ""
    return f"{room.unit.building.name}-{room.unit.name}-{room.number}"


def _required_text(body: dict[str, Any], key: str) -> str:
    value = str(body.get(key) or "").strip()
    if not value:
        raise ApiError(400, "bad_request", f"{key} is required")
    return value


def _coordinate(body: dict[str, Any], key: str, limit: float) -> float:
    try:
        value = float(body.get(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{key} must be a number") from None
    if not -limit <= value <= limit:
        raise ApiError(400, "bad_request", f"{key} is out of range")
    return value


def _image(body: dict[str, Any]) -> tuple[bytes, str]:
    """Bytes and content type from `image_base64` (plain base64 or a data: URL)."""
    encoded = str(body.get("image_base64") or "")
    declared = ""
    if encoded.startswith("data:") and "," in encoded:
        header, encoded = encoded.split(",", 1)
        declared = header[len("data:") :].split(";")[0]
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_request", "image_base64 is not base64") from None
    if not content:
        raise ApiError(400, "bad_request", "image_base64 is required")
    sniffed = next((kind for magic, kind in IMAGE_TYPES if content.startswith(magic)), "")
    return content, sniffed or declared or "application/octet-stream"
