"""Write the API description the mini-program's contract test reads (miniprogram/test/openapi.json).

    .venv/bin/python tools/dump_openapi.py [OUT_FILE]

The snapshot is committed so jest needs no running server; tests/integration/
test_openapi_snapshot.py fails when it differs from what the server builds, so the two can't drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "miniprogram" / "test" / "openapi.json"


def current_openapi() -> dict[str, Any]:
    """What GET /openapi.json answers, built from the routes alone (no database, no services)."""
    from server.api.health import build_openapi
    from server.app import create_app
    from server.settings import load_settings

    app = create_app(load_settings(env={}))
    app.router.finalize()  # route params exist once the router is finalized (at server start)
    return build_openapi(app)


def render(spec: dict[str, Any]) -> str:
    """Stable text: sorted keys, so a diff shows only real changes."""
    return json.dumps(spec, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else SNAPSHOT
    out.write_text(render(current_openapi()), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
