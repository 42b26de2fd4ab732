"""Residents in the mini-program: binding a room by phone check, their rooms, leaving a room."""

from __future__ import annotations

from server.db.people import Resident
from tests.support.seed import bearer, seed_estate, token_for

ROOM_A = {"community": "alpha", "building": "5", "unit": "2", "room": "302"}
ROOM_B = {"community": "beta", "building": "5", "unit": "2", "room": "302"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def sign_in(app, wechat_calls, openid: str, code: str = "code-1") -> dict:
    wechat_calls.register_code(code, openid=openid)
    _, response = await app.asgi_client.post("/api/v1/auth/miniapp", json={"code": code})
    assert response.status == 200, response.json
    return response.json


async def bind(app, token: str, room: dict, phone: str):
    _, response = await app.asgi_client.post(
        "/api/v1/bindings", json={**room, "phone": phone}, headers=bearer(token)
    )
    return response


async def test_guest_binds_with_phone_tail_and_gets_a_resident_token(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    assert guest["user"]["kind"] == "guest"

    response = await bind(app, guest["token"], ROOM_A, "1234")

    assert response.status == 201
    assert response.json["user"]["kind"] == "resident"
    assert response.json["room"]["address"] == "阿尔法小区5号楼2单元302"
    _, rooms = await app.asgi_client.get("/api/v1/me/rooms", headers=bearer(response.json["token"]))
    assert [r["room_id"] for r in rooms.json["items"]] == [response.json["room"]["room_id"]]


async def test_binding_links_the_miniapp_openid_not_the_official_account_one(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    await bind(app, guest["token"], ROOM_A, "13800001234")
    person = await Resident.get(phone="13800001234")
    assert (person.miniapp_openid, person.openid) == ("mini_new", "o_res_a")


async def test_next_sign_in_after_binding_is_a_resident(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    await bind(app, guest["token"], ROOM_A, "1234")
    again = await sign_in(app, wechat_calls, "mini_new", code="code-2")
    assert (again["user"]["kind"], again["user"]["name"]) == ("resident", "张伟")


async def test_resident_binding_a_second_household_gets_both_rooms(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    first = await bind(app, guest["token"], ROOM_A, "1234")
    second = await bind(app, first.json["token"], ROOM_B, "13900005678")
    assert second.status == 201
    _, rooms = await app.asgi_client.get("/api/v1/me/rooms", headers=bearer(second.json["token"]))
    assert [r["community"] for r in rooms.json["items"]] == ["alpha", "beta"]


async def test_binding_the_same_room_again_says_already(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    first = await bind(app, guest["token"], ROOM_A, "1234")
    again = await bind(app, first.json["token"], ROOM_A, "1234")
    assert (again.status, again.json["already"]) == (200, True)


async def test_wrong_phone_is_refused_with_the_attempts_left(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    response = await bind(app, guest["token"], ROOM_A, "9999")
    assert (response.status, response.json["error"]["code"]) == (400, "wrong_phone")
    assert "还可以尝试 2 次" in response.json["error"]["message"]


async def test_three_wrong_phones_lock_online_binding_even_for_the_right_one(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    for _ in range(2):
        await bind(app, guest["token"], ROOM_A, "9999")
    third = await bind(app, guest["token"], ROOM_A, "9999")
    right = await bind(app, guest["token"], ROOM_A, "1234")
    assert (third.status, third.json["error"]["code"]) == (429, "bind_locked")
    assert (right.status, right.json["error"]["code"]) == (429, "bind_locked")
    assert "物业服务中心" in right.json["error"]["message"]


async def test_unknown_room_is_refused(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    response = await bind(app, guest["token"], {**ROOM_A, "room": "999"}, "1234")
    assert (response.status, response.json["error"]["code"]) == (400, "bad_room")
    assert response.json["error"]["message"] == "没有找到这个房间，请检查楼号、单元和房号。"


async def test_person_linked_to_another_miniapp_account_is_not_taken_over(app, wechat_calls):
    estate = await seed_estate()
    estate.resident_a.miniapp_openid = "mini_owner"
    await estate.resident_a.save()
    guest = await sign_in(app, wechat_calls, "mini_intruder")
    response = await bind(app, guest["token"], ROOM_A, "1234")
    assert (response.status, response.json["error"]["code"]) == (400, "phone_taken")
    assert (await Resident.get(id=estate.resident_a.id)).miniapp_openid == "mini_owner"


async def test_missing_phone_is_a_400_naming_the_field(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    _, response = await app.asgi_client.post(
        "/api/v1/bindings", json=ROOM_A, headers=bearer(guest["token"])
    )
    assert (response.status, response.json["error"]["code"]) == (400, "missing_field")
    assert "phone" in response.json["error"]["message"]


async def test_staff_cannot_bind_rooms(app, settings):
    estate = await seed_estate()
    staff = token_for(settings, "staff", estate.staff_a.id)
    response = await bind(app, staff, ROOM_A, "1234")
    assert response.status == 403


async def test_guest_sees_every_community_to_bind_in_but_no_rooms(app, wechat_calls):
    await seed_estate()
    guest = bearer((await sign_in(app, wechat_calls, "mini_new"))["token"])
    _, communities = await app.asgi_client.get("/api/v1/bindings/communities", headers=guest)
    _, rooms = await app.asgi_client.get("/api/v1/me/rooms", headers=guest)
    assert communities.json["items"] == [
        {"code": "alpha", "name": "阿尔法小区"},
        {"code": "beta", "name": "贝塔家园"},
    ]
    assert rooms.json["items"] == []


async def test_leaving_the_last_room_gives_back_a_guest_token(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    bound = await bind(app, guest["token"], ROOM_A, "1234")
    room_id = bound.json["room"]["room_id"]
    _, left = await app.asgi_client.delete(
        f"/api/v1/bindings/{room_id}", headers=bearer(bound.json["token"])
    )
    assert (left.status, left.json["unlinked"], left.json["user"]["kind"]) == (200, True, "guest")
    person = await Resident.get(phone="13800001234")
    assert (person.miniapp_openid, person.openid) == (None, "o_res_a")


async def test_leaving_one_of_two_rooms_keeps_the_other(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    first = await bind(app, guest["token"], ROOM_A, "1234")
    second = await bind(app, first.json["token"], ROOM_B, "5678")
    token = second.json["token"]
    _, left = await app.asgi_client.delete(
        f"/api/v1/bindings/{second.json['room']['room_id']}", headers=bearer(token)
    )
    assert (left.json["unlinked"], left.json["user"]["kind"]) == (False, "resident")
    _, rooms = await app.asgi_client.get("/api/v1/me/rooms", headers=bearer(left.json["token"]))
    assert [r["community"] for r in rooms.json["items"]] == ["alpha"]


async def test_leaving_a_room_one_is_not_bound_to_is_404(app, wechat_calls):
    estate = await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    bound = await bind(app, guest["token"], ROOM_A, "1234")
    _, response = await app.asgi_client.delete(
        f"/api/v1/bindings/{estate.room_b.id}", headers=bearer(bound.json["token"])
    )
    assert (response.status, response.json["error"]["code"]) == (404, "not_bound")


async def test_bound_resident_reports_a_repair_with_a_photo(app, wechat_calls):
    await seed_estate()
    guest = await sign_in(app, wechat_calls, "mini_new")
    headers = bearer((await bind(app, guest["token"], ROOM_A, "1234")).json["token"])
    _, rooms = await app.asgi_client.get("/api/v1/me/rooms", headers=headers)
    room = {k: rooms.json["items"][0][k] for k in ("community", "building", "unit", "room")}
    _, created = await app.asgi_client.post(
        "/api/v1/tasks",
        json={**room, "category": "water", "description": "厨房水管漏水"},
        headers=headers,
    )
    assert created.status == 201, created.json
    ref = created.json["ref"]
    _, photo = await app.asgi_client.post(
        f"/api/v1/tasks/{ref}/photos",
        headers=headers,
        files={"file": ("leak.png", PNG, "image/png")},
    )
    assert photo.status == 201
    _, detail = await app.asgi_client.get(f"/api/v1/tasks/{ref}", headers=headers)
    assert (detail.json["place"], len(detail.json["photo_ids"])) == ("5号楼2单元302", 1)


async def test_resident_cannot_add_photos_to_someone_elses_task(app, settings, wechat_calls):
    estate = await seed_estate()
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    _, created = await app.asgi_client.post(
        "/api/v1/tasks",
        json={**ROOM_B, "category": "water", "reporter_phone": "13900005678"},
        headers=desk,
    )
    guest = await sign_in(app, wechat_calls, "mini_new")
    headers = bearer((await bind(app, guest["token"], ROOM_A, "1234")).json["token"])
    _, photo = await app.asgi_client.post(
        f"/api/v1/tasks/{created.json['ref']}/photos",
        headers=headers,
        files={"file": ("x.png", PNG, "image/png")},
    )
    assert photo.status == 404
