"""Schemathesis against `/openapi.json` with real tokens: generated requests never get a 500.

The served app is fuzzed by the `st` command line (its own process, real HTTP on loopback) as
a manager of every estate and as a resident, so routes are exercised past their access check.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.support.seed import seed_estate, token_for
from tests.support.servers import serving

ST = Path(sys.executable).with_name("st")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "12")


async def fuzz(base: str, token: str, report: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "20261126",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "10",
        "--no-color",
        "--generation-database",
        "none",
        "--report-dir",
        str(report),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace")


@pytest.mark.parametrize("who", ["manager", "resident"])
async def test_generated_requests_never_get_a_server_error(app, settings, tmp_path, who):  # type: ignore[no-untyped-def]
    estate = await seed_estate()
    person = estate.manager_all if who == "manager" else estate.resident_a
    token = token_for(settings, "staff" if who == "manager" else "resident", person.id)
    async with serving(app) as base:
        code, out = await fuzz(base, token, tmp_path)
    assert code == 0, out[-6000:]
