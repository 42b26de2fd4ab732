"""Path traversal and injection attempts: refused or harmless, never a file or a row they aim at."""

from __future__ import annotations

import os

import httpx
import pytest

from server.db.people import Resident
from server.db.tasks import REF_OFFSET, Task
from tests.integration.test_task_lifecycle import create_repair
from tests.support.chat import PNG
from tests.support.seed import bearer, seed_estate, token_for
from tests.support.servers import serving

TRAVERSALS = [
    "/api/v1/photos/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/v1/photos/1/../../../../etc/passwd",
    "/api/v1/exports/..%2F..%2Fpyproject.toml/download",
    "/console/static/..%2F..%2F..%2Fsettings.py",
    "/console/static/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    "/console/static/vendor/..%2F..%2F..%2F..%2Fpyproject.toml",
    "/simulator/..%2F..%2Fpyproject.toml",
    "/_emulator/..%2F..%2Fpyproject.toml",
]
SECRETS = ("root:x:0:0", "[project]", "secret_key", "import ")


async def test_traversal_paths_serve_no_file_outside_their_directory(app, settings):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    headers = bearer(token_for(settings, "staff", estate.manager_all.id))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        for path in TRAVERSALS:
            # raw paths: httpx must not normalise the dots away before the server sees them
            response = await client.get(httpx.URL(base + path), headers=headers)
            assert 400 <= response.status_code < 500, (path, response.status_code)
            assert not any(s in response.text for s in SECRETS), path


async def test_uploaded_file_name_cannot_choose_where_the_photo_lands(app, settings):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    task = await create_repair(app, settings, estate)
    staff = bearer(token_for(settings, "staff", estate.staff_a.id))
    await app.asgi_client.post(f"/api/v1/tasks/{task['ref']}/accept", headers=staff)
    target = settings.media_dir.parent / "owned.png"
    _, response = await app.asgi_client.post(
        f"/api/v1/tasks/{task['ref']}/photos",
        headers=staff,
        files={"file": ("../../owned.png", PNG, "image/png")},
    )
    assert response.status == 201
    assert not target.exists()
    stored = [p for p in settings.media_dir.rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [f"{response.json['sha256']}.png"]
    assert all(
        os.path.commonpath([p, settings.media_dir]) == str(settings.media_dir) for p in stored
    )


INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE tasks; --",
    "T1001' UNION SELECT phone FROM residents --",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("attempt", INJECTIONS)
async def test_injection_attempts_are_data_not_code(app, settings, attempt):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    task = await create_repair(app, settings, estate)
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    get = app.asgi_client.get
    for url in (
        f"/api/v1/tasks/{attempt}",
        f"/api/v1/tasks?state={attempt}",
        f"/api/v1/households?phone={attempt}",
        f"/api/v1/communities/{attempt}/rooms",
    ):
        _, response = await get(url, headers=desk)
        assert 400 <= response.status < 500 or response.status == 200, url
        assert "13900005678" not in response.text  # nobody's phone pulled out by a UNION
    # written as text, read back as the same text (never evaluated), nothing else touched
    created = await create_repair(app, settings, estate, description=attempt)
    _, shown = await get(f"/api/v1/tasks/{created['ref']}", headers=desk)
    assert shown.json["description"] == attempt
    assert await Task.all().count() == 2 and await Resident.all().count() == 2
    assert (await Task.get(id=int(task["ref"][1:]) - REF_OFFSET)).state == task["state"]


async def test_nul_characters_are_refused_before_they_reach_the_database(app, settings):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    desk = bearer(token_for(settings, "staff", estate.service_desk.id))
    _, by_query = await app.asgi_client.get("/api/v1/tasks?state=open%00", headers=desk)
    _, by_body = await app.asgi_client.post(
        "/api/v1/tasks",
        headers=desk,
        json={"community": "alpha", "category": "water", "description": "a\u0000b"},
    )
    assert (by_query.status, by_body.status) == (400, 400)
    assert await Task.all().count() == 0
