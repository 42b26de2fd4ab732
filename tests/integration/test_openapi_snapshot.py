"""The mini-program's contract test reads a committed /openapi.json snapshot: it must match."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "dump_openapi.py"


def load_dump_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dump_openapi", TOOL)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def changed_operations(current: dict, committed: dict) -> list[str]:
    """ "METHOD /path" of every operation added, removed or changed."""
    now, then = current["paths"], committed["paths"]
    return sorted(
        f"{method.upper()} {path}"
        for path in set(now) | set(then)
        for method in set(now.get(path, {})) | set(then.get(path, {}))
        if now.get(path, {}).get(method) != then.get(path, {}).get(method)
    )


def test_miniprogram_openapi_snapshot_matches_the_server():
    tool = load_dump_tool()
    current = tool.current_openapi()
    committed = json.loads(tool.SNAPSHOT.read_text(encoding="utf-8"))
    changed = changed_operations(current, committed)
    assert current == committed, (
        "miniprogram/test/openapi.json is out of date"
        + (f" ({', '.join(changed)})" if changed else "")
        + ": run `.venv/bin/python tools/dump_openapi.py`, then `make test` (the mini-program's"
        " contract test checks its API calls against it)"
    )
