"""The facilities registry's master data (facilities.csv) and the retention loop (issue 9)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from server.actions.exports import purge_expired
from server.actions.roster import import_roster
from server.db.governance import AuditLog, ExportDownload, ExportRequest, Facility, FacilityVersion
from server.settings import ROOT
from server.workers.retention import retention_loop
from tests.support.seed import seed_estate

DEMO_DIR = ROOT / "config" / "demo"
HEADER = "community,code,kind,name,location,building,lat,lng\n"


async def test_demo_facilities_load_once_with_a_first_version(database_url):
    report = await import_roster(DEMO_DIR)
    assert report.problems == []
    rows = len((DEMO_DIR / "facilities.csv").read_text(encoding="utf-8").splitlines()) - 1
    assert report.counts["facilities.csv"]["created"] == rows
    assert await FacilityVersion.filter(version=1).count() == rows

    again = await import_roster(DEMO_DIR)
    assert again.counts["facilities.csv"] == {
        "created": 0,
        "updated": 0,
        "unchanged": rows,
        "rejected": 0,
    }
    assert await FacilityVersion.all().count() == rows


async def test_bad_facility_rows_are_reported_by_line_and_changes_make_versions(
    database_url, tmp_path
):
    await seed_estate()
    (tmp_path / "facilities.csv").write_text(
        HEADER
        + "alpha,lamp-001,street_lamp,东门路灯,东门,,30.28,120.13\n"
        + "alpha,lamp-002,lamp,东门路灯,东门,,,\n"
        + "nowhere,lamp-003,street_lamp,x,,,,\n"
        + "alpha,lamp-001,street_lamp,again,,,,\n",
        encoding="utf-8",
    )
    report = await import_roster(tmp_path)
    assert report.problems[0].startswith("facilities.csv:3: kind 'lamp' is not one of")
    assert report.problems[1] == "facilities.csv:4: unknown community 'nowhere'"
    assert report.problems[2] == "facilities.csv:5: duplicate of line 2 (same community and code)"
    assert report.counts["facilities.csv"]["created"] == 1

    (tmp_path / "facilities.csv").write_text(
        HEADER + "alpha,lamp-001,street_lamp,东门路灯,东门外,,30.28,120.13\n", encoding="utf-8"
    )
    report = await import_roster(tmp_path)
    assert report.counts["facilities.csv"]["updated"] == 1
    lamp = await Facility.get(code="lamp-001")
    assert (lamp.location, lamp.version) == ("东门外", 2)
    versions = await FacilityVersion.filter(facility_id=lamp.id).order_by("version")
    assert [v.snapshot["location"] for v in versions] == ["东门", "东门外"]


async def test_retention_purges_old_logs_and_keeps_recent_ones(database_url, settings):
    estate = await seed_estate()
    now = datetime.now(UTC)
    governance = replace(
        settings.governance, audit_retention_days=30, download_log_retention_days=7
    )
    for days in (40, 1):
        await AuditLog.create(
            actor_kind="staff",
            actor_id=1,
            role="manager",
            action="reveal_phone",
            subject="room:1",
            at=now - timedelta(days=days),
        )
    export = await ExportRequest.create(
        dataset="residents",
        purpose="x",
        department="cs",
        requested_by=estate.manager_all,
        created_at=now,
    )
    for days in (8, 6):
        await ExportDownload.create(export=export, staff_id=1, at=now - timedelta(days=days))

    purged = await purge_expired(now, governance)

    assert (purged["audit_log"], purged["downloads"]) == (1, 1)
    assert await AuditLog.all().count() == 1 and await ExportDownload.all().count() == 1


async def test_retention_loop_purges_expired_exports(services, settings, tmp_path):
    estate = await seed_estate()
    file = tmp_path / "export-1-abc.csv"
    file.write_text("a\n", encoding="utf-8")
    local = replace(
        services,
        settings=settings.with_(governance=replace(settings.governance, export_dir=tmp_path)),
    )
    export = await ExportRequest.create(
        dataset="residents",
        purpose="x",
        department="cs",
        requested_by=estate.manager_all,
        status="approved",
        file_name=file.name,
        created_at=datetime.now(UTC),
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    stop = asyncio.Event()
    stop.set()  # one pass, then it returns
    await asyncio.wait_for(retention_loop(local, stop), 5)
    assert not file.exists()
    assert (await ExportRequest.get(id=export.id)).status == "expired"
