"""Governed exports (issue 9, article 5.3): no file without approval, masked as approved,
downloads logged, expired exports refused and purged."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from server.actions.exports import purge_expired
from server.db.governance import ExportDownload, ExportRequest
from server.db.people import Department, Staff
from tests.support.seed import Estate, bearer, seed_estate, token_for


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    governance = replace(
        settings.governance,
        export_owners={"residents": "cs", "tasks": "eng", "facilities": "eng", "fees": "cs"},
        export_dir=tmp_path / "exports",
    )
    return settings.with_(governance=governance)


async def people() -> tuple[Estate, Staff, Staff, Staff]:
    """The seed estate, a data admin (all estates), a second one, and the cs department's lead."""
    estate = await seed_estate()
    data = await Department.create(code="data", name="数据管理", kind="internal")
    admin = await Staff.create(
        employee_no="D001",
        name="邓佳",
        phone="13600000301",
        department=data,
        role="data_admin",
        all_communities=True,
    )
    other = await Staff.create(
        employee_no="D002",
        name="林涛",
        phone="13600000302",
        department=data,
        role="data_admin",
        all_communities=True,
    )
    cs = await Department.get(code="cs")
    cs_lead = await Staff.create(
        employee_no="S001",
        name="吴婷",
        phone="13600000303",
        department=cs,
        role="lead",
        all_communities=True,
    )
    return estate, admin, other, cs_lead


def auth(settings, staff: Staff) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(token_for(settings, "staff", staff.id))


async def ask(app, settings, admin: Staff, **extra) -> dict:  # type: ignore[no-untyped-def]
    body = {"dataset": "residents", "purpose": "annual roster check", **extra}
    _, response = await app.asgi_client.post(
        "/api/v1/exports", json=body, headers=auth(settings, admin)
    )
    assert response.status == 201, response.body
    return response.json


def rows_of(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_an_export_without_approval_is_impossible(app, settings):
    estate, admin, _, _ = await people()
    export = await ask(app, settings, admin)
    assert export["status"] == "pending"

    _, response = await app.asgi_client.get(
        f"/api/v1/exports/{export['id']}/download", headers=auth(settings, admin)
    )
    assert response.status == 409
    assert response.json["error"]["code"] == "not_approved"
    assert not settings.governance.export_dir.exists() or not any(
        settings.governance.export_dir.iterdir()
    )
    # the requester cannot approve it, nor a lead of another department
    for who in (admin, estate.lead_a):
        _, refused = await app.asgi_client.post(
            f"/api/v1/exports/{export['id']}/approve", json={}, headers=auth(settings, who)
        )
        assert refused.status == 403
    assert (await ExportRequest.get(id=export["id"])).status == "pending"
    assert await ExportDownload.all().count() == 0


async def test_a_rejected_export_cannot_be_downloaded(app, settings):
    _, admin, _, cs_lead = await people()
    export = await ask(app, settings, admin)
    _, rejected = await app.asgi_client.post(
        f"/api/v1/exports/{export['id']}/reject",
        json={"reason": "purpose too vague"},
        headers=auth(settings, cs_lead),
    )
    assert rejected.json["status"] == "rejected"
    _, response = await app.asgi_client.get(
        f"/api/v1/exports/{export['id']}/download", headers=auth(settings, admin)
    )
    assert response.status == 409


async def test_an_approved_export_is_masked_as_approved(app, settings):
    _, admin, _, cs_lead = await people()
    masked = await ask(app, settings, admin)
    names_only = await ask(app, settings, admin, fields=["room", "name", "phone"])
    for export, unmasked in ((masked, []), (names_only, ["name"])):
        _, approved = await app.asgi_client.post(
            f"/api/v1/exports/{export['id']}/approve",
            json={"unmasked_fields": unmasked},
            headers=auth(settings, cs_lead),
        )
        assert approved.status == 200, approved.body
        assert approved.json["unmasked_fields"] == unmasked

    _, first = await app.asgi_client.get(
        f"/api/v1/exports/{masked['id']}/download", headers=auth(settings, admin)
    )
    assert first.status == 200
    assert first.headers["content-type"].startswith("text/csv")
    rows = rows_of(first.body)
    assert sorted((r["name"], r["phone"]) for r in rows) == [
        ("张*", "138****1234"),
        ("李*", "139****5678"),
    ]
    _, second = await app.asgi_client.get(
        f"/api/v1/exports/{names_only['id']}/download", headers=auth(settings, admin)
    )
    rows = rows_of(second.body)
    assert list(rows[0]) == ["room", "name", "phone"]
    assert sorted((r["name"], r["phone"]) for r in rows) == [
        ("张伟", "138****1234"),
        ("李娜", "139****5678"),
    ]
    assert b"13800001234" not in first.body + second.body


async def test_unmasking_a_field_that_is_not_personal_or_not_asked_is_refused(app, settings):
    _, admin, _, cs_lead = await people()
    export = await ask(app, settings, admin, fields=["room", "name"])
    _, response = await app.asgi_client.post(
        f"/api/v1/exports/{export['id']}/approve",
        json={"unmasked_fields": ["phone"]},
        headers=auth(settings, cs_lead),
    )
    assert response.status == 400
    assert response.json["error"]["code"] == "bad_unmask"


async def test_every_download_is_logged_and_only_the_requester_may_download(app, settings):
    _, admin, other, cs_lead = await people()
    export = await ask(app, settings, admin)
    await app.asgi_client.post(
        f"/api/v1/exports/{export['id']}/approve", json={}, headers=auth(settings, cs_lead)
    )
    for _ in range(2):
        _, ok = await app.asgi_client.get(
            f"/api/v1/exports/{export['id']}/download", headers=auth(settings, admin)
        )
        assert ok.status == 200
    _, stranger = await app.asgi_client.get(
        f"/api/v1/exports/{export['id']}/download", headers=auth(settings, other)
    )
    assert stranger.status == 404

    logged = await ExportDownload.filter(export_id=export["id"]).order_by("id")
    assert [d.staff_id for d in logged] == [admin.id, admin.id]
    assert all(d.ip and d.at for d in logged)


async def test_an_expired_export_is_refused_and_purged(app, settings):
    _, admin, _, cs_lead = await people()
    export = await ask(app, settings, admin)
    await app.asgi_client.post(
        f"/api/v1/exports/{export['id']}/approve", json={}, headers=auth(settings, cs_lead)
    )
    row = await ExportRequest.get(id=export["id"])
    path = settings.governance.export_dir / row.file_name
    assert path.is_file()
    await ExportRequest.filter(id=row.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )

    _, response = await app.asgi_client.get(
        f"/api/v1/exports/{export['id']}/download", headers=auth(settings, admin)
    )
    assert response.status == 410
    assert response.json["error"]["code"] == "expired"

    purged = await purge_expired(datetime.now(UTC), settings.governance)
    assert purged["exports"] == 1
    assert not path.exists()
    assert (await ExportRequest.get(id=row.id)).status == "expired"
    assert await ExportDownload.all().count() == 0


async def test_bad_requests_get_clear_errors(app, settings):
    _, admin, _, _ = await people()
    headers = auth(settings, admin)
    for body, code in (
        ({"dataset": "secrets", "purpose": "x"}, "bad_field"),
        ({"dataset": "residents", "purpose": "x", "fields": ["password"]}, "bad_field"),
        ({"dataset": "residents"}, "missing_field"),
    ):
        _, response = await app.asgi_client.post("/api/v1/exports", json=body, headers=headers)
        assert response.status == 400, body
        assert response.json["error"]["code"] == code
    _, missing = await app.asgi_client.get("/api/v1/exports/999/download", headers=headers)
    assert missing.status == 404
