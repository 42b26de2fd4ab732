"""Mini-program sign-in: code exchange, linking to the roster, and what the token allows."""

from __future__ import annotations

from server.db.people import Resident, Staff
from tests.support.seed import bearer, seed_estate


async def login(app, body):
    _, response = await app.asgi_client.post("/api/v1/auth/miniapp", json=body)
    return response


async def test_first_login_links_resident_by_phone_then_code_alone_suffices(app, wechat_calls):
    await seed_estate()
    wechat_calls.register_code("code-1", openid="mini_res_a")
    wechat_calls.register_phone_code("phone-1", "13800001234")
    first = await login(app, {"code": "code-1", "phone_code": "phone-1"})
    assert first.status == 200
    assert first.json["user"] == {
        "kind": "resident",
        "id": first.json["user"]["id"],
        "name": "张伟",
        "role": "resident",
        "phone": "138****1234",
    }
    assert (await Resident.get(phone="13800001234")).miniapp_openid == "mini_res_a"

    wechat_calls.register_code("code-2", openid="mini_res_a")
    second = await login(app, {"code": "code-2"})
    assert second.json["user"]["kind"] == "resident"
    _, me = await app.asgi_client.get("/api/v1/me", headers=bearer(second.json["token"]))
    assert me.json["communities"] == ["alpha"]


async def test_staff_is_linked_by_unionid(app, wechat_calls):
    estate = await seed_estate()
    estate.staff_a.unionid = "union-staff-a"
    await estate.staff_a.save()
    wechat_calls.register_code("code-s", openid="mini_staff_a", unionid="union-staff-a")
    response = await login(app, {"code": "code-s"})
    assert response.json["user"]["kind"] == "staff"
    assert (await Staff.get(id=estate.staff_a.id)).miniapp_openid == "mini_staff_a"


async def test_unknown_person_gets_a_guest_token_that_sees_nothing(app, wechat_calls):
    await seed_estate()
    wechat_calls.register_code("code-g", openid="mini_stranger")
    response = await login(app, {"code": "code-g"})
    assert response.json["user"]["kind"] == "guest"
    headers = bearer(response.json["token"])
    _, me = await app.asgi_client.get("/api/v1/me", headers=headers)
    assert me.json["communities"] == []
    _, rooms = await app.asgi_client.get("/api/v1/communities/alpha/rooms", headers=headers)
    assert rooms.status == 403


async def test_session_key_never_reaches_the_client(app, wechat_calls, services, settings):
    session = wechat_calls.register_code("code-k", openid="mini_k")
    response = await login(app, {"code": "code-k"})
    assert session["session_key"] not in response.text
    stored = await services.redis.get(f"{settings.redis_prefix}miniapp:session:mini_k")
    assert stored == session["session_key"]


async def test_reused_code_is_refused_with_a_clear_error(app, wechat_calls):
    wechat_calls.register_code("code-once", openid="mini_once")
    assert (await login(app, {"code": "code-once"})).status == 200
    again = await login(app, {"code": "code-once"})
    assert (again.status, again.json["error"]["code"]) == (400, "bad_code")


async def test_bad_phone_code_is_refused(app, wechat_calls):
    wechat_calls.register_code("code-p", openid="mini_p")
    response = await login(app, {"code": "code-p", "phone_code": "never-issued"})
    assert (response.status, response.json["error"]["code"]) == (400, "bad_phone_code")
