"""The access layer: every /api/v1 route needs a token, scope follows the caller's communities."""

from __future__ import annotations

import re

import pytest

from tests.support.seed import bearer, seed_estate, token_for


def guarded_routes(app) -> list[tuple[str, str]]:
    app.router.finalize() if not app.router.finalized else None
    found = []
    for route in app.router.routes:
        if not route.path.startswith("api/v1"):
            continue
        meta = getattr(route.handler, "__openapi__", None)
        assert meta is not None, f"/{route.path} is not registered through access.endpoint"
        if meta["allow"] == "public":
            continue
        path = "/" + re.sub(r"<\w+:int>", "1", route.path)
        path = re.sub(r"<(\w+)(:[^>]+)?>", "alpha", path)
        for method in route.methods:
            found.append((method, path))
    return found


async def test_every_api_route_without_token_gets_401(app):
    routes = guarded_routes(app)
    assert len(routes) >= 5
    for method, path in routes:
        _, response = await app.asgi_client.request(method, path)
        assert response.status == 401, (method, path)
        assert response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "eyJ4IjoxfQ.AAAA"])
async def test_bad_token_gets_401(app, token):
    _, response = await app.asgi_client.get("/api/v1/me", headers=bearer(token))
    assert response.status == 401


async def test_expired_token_gets_401(app, settings):
    from server.api.tokens import issue_token

    estate = await seed_estate()
    expired = issue_token(settings.secret_key, {"kind": "staff", "id": estate.staff_a.id}, -1)
    _, response = await app.asgi_client.get("/api/v1/me", headers=bearer(expired))
    assert response.status == 401


async def test_token_signed_with_another_key_gets_401(app):
    estate = await seed_estate()
    from server.api.tokens import issue_token

    forged = issue_token("not-our-key", {"kind": "staff", "id": estate.manager_all.id}, 600)
    _, response = await app.asgi_client.get("/api/v1/me", headers=bearer(forged))
    assert response.status == 401


async def test_staff_of_community_a_sees_only_a(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, listed = await app.asgi_client.get("/api/v1/communities", headers=headers)
    assert [c["code"] for c in listed.json["items"]] == ["alpha"]
    for path in (
        "/api/v1/communities/beta",
        "/api/v1/communities/beta/rooms",
        "/api/v1/communities/beta/devices",
    ):
        _, response = await app.asgi_client.get(path, headers=headers)
        assert response.status == 404, path
        assert "error" in response.json
    _, own = await app.asgi_client.get("/api/v1/communities/alpha/rooms", headers=headers)
    assert own.status == 200
    assert own.json["items"][0]["room"] == "302"


async def test_manager_of_all_communities_sees_both(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.manager_all.id))
    _, listed = await app.asgi_client.get("/api/v1/communities", headers=headers)
    assert [c["code"] for c in listed.json["items"]] == ["alpha", "beta"]
    _, rooms = await app.asgi_client.get("/api/v1/communities/beta/rooms", headers=headers)
    assert rooms.status == 200


async def test_resident_phone_numbers_are_masked_in_room_lists(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    _, response = await app.asgi_client.get("/api/v1/communities/alpha/rooms", headers=headers)
    assert response.json["items"][0]["residents"][0]["phone"] == "138****1234"
    assert "13800001234" not in response.text


async def test_resident_may_not_use_staff_routes(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "resident", estate.resident_a.id))
    _, response = await app.asgi_client.get("/api/v1/communities/alpha/rooms", headers=headers)
    assert response.status == 403
    _, me = await app.asgi_client.get("/api/v1/me", headers=headers)
    assert me.json["communities"] == ["alpha"]


async def test_token_of_deleted_staff_gets_401(app, settings):
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.staff_a.id))
    await estate.staff_a.communities.clear()
    await estate.staff_a.delete()
    _, response = await app.asgi_client.get("/api/v1/me", headers=headers)
    assert response.status == 401


async def test_unknown_route_gets_json_404(app):
    _, response = await app.asgi_client.get("/api/v1/nope")
    assert response.status == 404
    assert response.json["error"]["code"] == "not_found"


async def test_malformed_json_body_gets_400(app):
    _, response = await app.asgi_client.post(
        "/api/v1/auth/miniapp", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status == 400
    assert response.json["error"]["code"] == "bad_json"


@pytest.mark.parametrize("body", [[], {"code": 5}, {}, {"code": "x" * 500}])
async def test_wrong_body_shape_gets_400(app, body):
    _, response = await app.asgi_client.post("/api/v1/auth/miniapp", json=body)
    assert response.status == 400
    assert "error" in response.json
