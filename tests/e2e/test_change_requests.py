"""Change requests end to end (issue 9, article 5.1): field staff report new street lamps with a
photo in chat, the owning department's lead approves or rejects, the registry follows."""

from __future__ import annotations

from dataclasses import replace

import pytest

from server.db.governance import ChangeRequest, Facility, FacilityVersion
from server.db.outbox import OutboxMessage
from server.db.people import Staff
from server.workers.outbox import relay_once
from templates_msg import label, render_text
from tests.support.chat import PNG, Chat
from tests.support.notify import daytime
from tests.support.seed import bearer, seed_estate, seed_supervision, token_for

STAFF = "o_staff_a"  # 王强, engineering (eng) staff in alpha
LEAD = "o_lead_a"  # 钱工, eng lead in alpha: eng owns street lamps here
CLEANING_LEAD = "o_clean_lead"


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The seed's department codes as owners and subscribers (config uses the demo's)."""
    governance = replace(
        settings.governance,
        owners={"street_lamp": "eng", "resident_data": "cs", "*": "eng"},
        subscribers={"street_lamp": ["cleaning", "cs"]},
        export_dir=tmp_path / "exports",
    )
    return settings.with_(governance=governance)


async def report_two_lamps(app, settings, wechat_calls) -> str:  # type: ignore[no-untyped-def]
    """王强 reports two new lamps at the east gate with a photo; returns the change reference."""
    chat = Chat.of(app, settings)
    asked = await chat.say(STAFF, "东门新增路灯2盏")
    assert asked == render_text(
        "change_ask_photo", summary="东门新增路灯2个", department_name="工程部"
    )
    wechat_calls.register_media("media_lamps", PNG, "image/png")
    submitted = await chat.photo(STAFF, "media_lamps")
    [cr] = await ChangeRequest.all()
    assert submitted == render_text(
        "change_submitted",
        ref=cr.ref,
        summary="东门新增路灯2个",
        photos=1,
        department_name="工程部",
    )
    assert (cr.status, cr.kind, cr.department, len(cr.photo_ids)) == (
        "pending",
        "add_facility",
        "eng",
        1,
    )
    return cr.ref


async def test_two_new_lamps_approved_in_chat_appear_in_the_registry_and_departments_are_told(
    app, settings, services, wechat_calls
):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    ref = await report_two_lamps(app, settings, wechat_calls)
    assert await Facility.all().count() == 0  # nothing takes effect before approval
    asked = await OutboxMessage.filter(kind="change_requested").values_list(
        "recipient_id", flat=True
    )
    assert set(asked) == {estate.lead_a.id, estate.manager_all.id}

    reply = await Chat.of(app, settings).say(LEAD, f"同意变更 {ref}")

    assert reply == render_text(
        "change_decision_done", ref=ref, approved=True, summary="东门新增路灯2个", reason=""
    )
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, listed = await app.asgi_client.get("/api/v1/communities/alpha/facilities", headers=headers)
    lamps = listed.json["items"]
    assert [(f["kind"], f["location"], f["status"], f["version"]) for f in lamps] == [
        ("street_lamp", "东门", "active", 1),
        ("street_lamp", "东门", "active", 1),
    ]
    assert [f["code"] for f in lamps] == ["lamp-001", "lamp-002"]
    assert all(f["photo_id"] for f in lamps)
    assert await FacilityVersion.filter(change_request_id=int(ref[1:])).count() == 2
    told = set(
        await OutboxMessage.filter(kind="change_applied").values_list("recipient_id", flat=True)
    )
    # the owner (eng: lead and manager), cleaning (its lead) and cs (no lead: its staff)
    assert told == {
        estate.lead_a.id,
        estate.manager_all.id,
        sup.cleaning_lead.id,
        estate.service_desk.id,
    }
    [decided] = await OutboxMessage.filter(kind="change_decided")
    assert decided.recipient_id == estate.staff_a.id and decided.values["approved"] is True

    await relay_once(services, now=daytime())  # change_applied is not urgent: not at night
    [to_cleaning] = wechat_calls.calls(kind="template", openid=CLEANING_LEAD)
    assert to_cleaning["payload"]["data"]["character_string1"]["value"] == ref


async def test_a_rejected_change_leaves_nothing_behind(app, settings, wechat_calls):
    estate = await seed_estate()
    await seed_supervision(estate)
    ref = await report_two_lamps(app, settings, wechat_calls)

    reply = await Chat.of(app, settings).say(LEAD, f"驳回变更 {ref} 位置不对")

    assert reply == render_text(
        "change_decision_done",
        ref=ref,
        approved=False,
        summary="东门新增路灯2个",
        reason="位置不对",
    )
    cr = await ChangeRequest.get(id=int(ref[1:]))
    assert (cr.status, cr.reason) == ("rejected", "位置不对")
    assert await Facility.all().count() == 0
    assert await FacilityVersion.all().count() == 0
    assert await OutboxMessage.filter(kind="change_applied").count() == 0
    [decided] = await OutboxMessage.filter(kind="change_decided")
    assert decided.values["reason"] == "位置不对"
    again = await Chat.of(app, settings).say(LEAD, f"同意变更 {ref}")
    assert again == render_text(
        "change_refused", ref=ref, reason=label("change_refusal", "wrong_state")
    )
    assert await Facility.all().count() == 0


async def test_only_the_owning_department_may_decide(app, settings, wechat_calls):
    estate = await seed_estate()
    await seed_supervision(estate)
    ref = await report_two_lamps(app, settings, wechat_calls)
    chat = Chat.of(app, settings)

    assert await chat.say(CLEANING_LEAD, f"同意变更 {ref}") == render_text(
        "change_refused", ref=ref, reason=label("change_refusal", "not_owner")
    )
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, response = await app.asgi_client.post(
        f"/api/v1/change-requests/{ref}/approve", json={}, headers=headers
    )
    assert response.status == 403
    assert (await ChangeRequest.get(id=int(ref[1:]))).status == "pending"
    assert await Facility.all().count() == 0


async def test_a_reject_without_a_reason_is_refused(app, settings, wechat_calls):
    estate = await seed_estate()
    await seed_supervision(estate)
    ref = await report_two_lamps(app, settings, wechat_calls)
    headers = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, response = await app.asgi_client.post(
        f"/api/v1/change-requests/{ref}/reject", json={}, headers=headers
    )
    assert response.status == 400
    assert (await ChangeRequest.get(id=int(ref[1:]))).status == "pending"


async def test_cancel_drops_the_proposal(app, settings):
    await seed_estate()
    chat = Chat.of(app, settings)
    await chat.say(STAFF, "东门新增路灯2盏")
    assert "已取消" in await chat.say(STAFF, "取消")
    assert await ChangeRequest.all().count() == 0


async def test_retire_by_api_with_photo_makes_a_new_version(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    lead = bearer(token_for(settings, "staff", estate.lead_a.id))
    _, photo = await app.asgi_client.post(
        "/api/v1/change-requests/photos",
        files={"file": ("lamp.png", PNG, "image/png")},
        headers=headers,
    )
    assert photo.status == 201, photo.body
    body = {
        "community": "alpha",
        "kind": "add_facility",
        "facility": {
            "kind": "street_lamp",
            "name": "北门路灯",
            "location": "北门",
            "code": "lamp-n1",
        },
        "photo_ids": [photo.json["id"]],
    }
    _, created = await app.asgi_client.post("/api/v1/change-requests", json=body, headers=headers)
    assert created.status == 201, created.body
    _, ok = await app.asgi_client.post(
        f"/api/v1/change-requests/{created.json['ref']}/approve", json={}, headers=lead
    )
    assert ok.json["status"] == "approved"
    _, shown = await app.asgi_client.get(
        f"/api/v1/change-requests/{created.json['ref']}/photos/{photo.json['id']}", headers=lead
    )
    assert (shown.status, shown.body) == (200, PNG)

    retire = {
        "community": "alpha",
        "kind": "retire_facility",
        "facility_code": "lamp-n1",
        "photo_ids": [photo.json["id"]],
    }
    _, no_photo = await app.asgi_client.post(
        "/api/v1/change-requests", json={**retire, "photo_ids": []}, headers=headers
    )
    assert no_photo.status == 400 and no_photo.json["error"]["code"] == "needs_photo"
    _, asked = await app.asgi_client.post("/api/v1/change-requests", json=retire, headers=headers)
    await app.asgi_client.post(
        f"/api/v1/change-requests/{asked.json['ref']}/approve", json={}, headers=lead
    )
    _, history = await app.asgi_client.get(
        "/api/v1/communities/alpha/facilities/lamp-n1/versions", headers=headers
    )
    assert [(v["version"], v["snapshot"]["status"]) for v in history.json["items"]] == [
        (1, "active"),
        (2, "retired"),
    ]


async def test_resident_phone_correction_is_applied_with_history_and_masked(app, settings):
    estate = await seed_estate()
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    await Staff.filter(id=estate.service_desk.id).update(role="lead")  # cs's lead approves
    body = {
        "community": "alpha",
        "kind": "resident_data",
        "resident_id": estate.resident_a.id,
        "resident": {"phone": "13811112222"},
        "note": "caller 13811112222 moved number",
    }
    _, created = await app.asgi_client.post("/api/v1/change-requests", json=body, headers=desk)
    assert created.status == 201, created.body
    assert "13811112222" not in created.text
    assert created.json["payload"]["phone"] == "138****2222"
    _, ok = await app.asgi_client.post(
        f"/api/v1/change-requests/{created.json['ref']}/approve", json={}, headers=desk
    )
    assert ok.status == 200, ok.body
    await estate.resident_a.refresh_from_db()
    assert estate.resident_a.phone == "13811112222"
    from server.db.governance import ResidentDataChange

    [change] = await ResidentDataChange.all()
    assert (change.field, change.old_value, change.new_value) == (
        "phone",
        "13800001234",
        "13811112222",
    )
