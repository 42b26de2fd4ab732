"""No resident's full phone number where the caller's role does not permit it, and no resident's
openid anywhere (issue 9, PIPL).

The walk is generic: every GET route in the app's route table under /api/v1 (those feed
/openapi.json) and every GET page under /console, as every staff role, a resident and a guest,
with path parameters filled from the seeded estate. New routes are covered without editing this
test. A full number may appear only for a role `may_see_phone` allows, only when asked for
(`?reveal=phone`), and only with an audit-log row written for that read.
"""

from __future__ import annotations

import httpx

from server.db.governance import AuditLog
from server.db.people import Resident
from server.domain.privacy import may_see_phone
from tests.support.seed import bearer, token_for
from tests.support.servers import serving
from tests.support.world import NEW_PHONE, console_cookie, fill, get_routes, seed_world
from tests.support.world import settings as settings  # its settings fixture


async def test_no_full_resident_phone_where_the_role_does_not_permit_it(app, settings):
    estate, people, values = await seed_world(settings)
    phones = set(await Resident.all().values_list("phone", flat=True)) | {NEW_PHONE}
    # ID-like fields: residents' WeChat openids are never shown to anyone
    openids = {o for o in await Resident.all().values_list("openid", flat=True) if o}
    assert openids
    callers = [(role, bearer(token_for(settings, "staff", s.id)), s) for role, s in people.items()]
    callers.append(
        ("resident", bearer(token_for(settings, "resident", estate.resident_a.id)), None)
    )
    callers.append(("guest", bearer(token_for(settings, "guest", None)), None))
    leaks, errors, walked = [], [], 0
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        api = get_routes(app, "api/v1")  # the served app's finalized route table
        console = [p for p in get_routes(app, "console") if "static" not in p]
        assert len(api) >= 20
        for role, headers, staff in callers:
            pages = [(p, headers) for p in api]
            cookie = console_cookie(settings, staff) if staff is not None else None
            if cookie is not None:
                pages += [(p, cookie) for p in console]
            # Roles that may reveal are walked plain (never a number) and asking (only with an
            # audit row); the others asking, which is the plain walk plus the parameter.
            queries = ("", "?reveal=phone") if may_see_phone(role) else ("?reveal=phone",)
            for path, auth in pages:
                for query in queries:
                    url = fill(path, values) + query
                    audits = await AuditLog.all().count()
                    response = await client.get(url, headers=auth, follow_redirects=False)
                    walked += 1
                    if response.status_code >= 500:
                        errors.append(f"{role} GET {url}: {response.status_code}")
                    ids = {o for o in openids if o in response.text}
                    if ids:
                        leaks.append(f"{role} GET {url}: openids {sorted(ids)}")
                    shown = {p for p in phones if p in response.text}
                    if not shown:
                        continue
                    allowed = (
                        may_see_phone(role) and query and await AuditLog.all().count() > audits
                    )
                    if not allowed:
                        leaks.append(f"{role} GET {url}: {sorted(shown)}")
    assert walked > 100
    assert not leaks, "unmasked resident phones:\n" + "\n".join(leaks)
    assert not errors, "server errors:\n" + "\n".join(errors)


async def test_customer_service_sees_a_phone_in_clear_only_when_asking_and_it_is_logged(
    app, settings
):
    estate, people, _ = await seed_world(settings)
    desk = bearer(token_for(settings, "staff", people["customer_service"].id))
    url = f"/api/v1/households/{estate.room_a.id}"
    _, masked = await app.asgi_client.get(url, headers=desk)
    assert masked.status == 200
    assert [m["phone"] for m in masked.json["members"]] == ["138****1234"]
    assert await AuditLog.all().count() == 0

    _, clear = await app.asgi_client.get(url + "?reveal=phone", headers=desk)
    assert [m["phone"] for m in clear.json["members"]] == ["13800001234"]
    [audit] = await AuditLog.all()
    assert (audit.actor_id, audit.role, audit.action, audit.subject) == (
        people["customer_service"].id,
        "customer_service",
        "reveal_phone",
        f"room:{estate.room_a.id}",
    )
    staff = bearer(token_for(settings, "staff", people["staff"].id))
    _, refused = await app.asgi_client.get(url + "?reveal=phone", headers=staff)
    assert refused.status == 403


async def test_household_view_shows_rooms_fees_tasks_and_the_lookup_by_phone_is_masked(
    app, settings
):
    estate, people, values = await seed_world(settings)
    desk = bearer(token_for(settings, "staff", people["customer_service"].id))
    _, view = await app.asgi_client.get(f"/api/v1/households/{estate.room_a.id}", headers=desk)
    body = view.json
    [member] = body["members"]
    assert (member["name"], member["relation"]) == ("张伟", "owner")
    assert [r["room_id"] for r in member["rooms"]] == [estate.room_a.id]
    assert body["fees"]["outstanding"] == "300.00"
    assert [t["ref"] for t in body["tasks"]] == [values["task_ref"]]
    assert body["pending_changes"] == [values["change_ref"]]

    _, found = await app.asgi_client.get("/api/v1/households?phone=138-0000-1234", headers=desk)
    assert [(h["room_id"], h["phone"]) for h in found.json["items"]] == [
        (estate.room_a.id, "138****1234")
    ]
    _, bad = await app.asgi_client.get("/api/v1/households?phone=1234", headers=desk)
    assert bad.status == 400
    # a room of a community outside the caller's scope is not disclosed
    _, other = await app.asgi_client.get(f"/api/v1/households/{estate.room_b.id}", headers=desk)
    assert other.status == 404
