"""`make bench`: run every tests/bench/bench_*.py, then print one table of all their figures.

Run: `python -m tests.bench [NAME ...]` (NAME picks modules whose name contains it, e.g.
`lifecycle`). Each module runs in its own interpreter (no event loop, ORM, logging or
switch-interval state carried from one bench to the next); its `main()` returns rows
(tests.bench.Row, or plain (name, figure, unit[, note]) tuples), and a module that returns
nothing gets a row saying so. A module that crashes or overruns is reported and makes the exit
status 1; a missed goal does not: these print figures, they are not tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.bench import Row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODULE_TIMEOUT_S = 900  # a hung bench must not hang `make bench`


def discover(names: Iterable[str] = ()) -> list[str]:
    """Module names of the benches, in name order, filtered by the given substrings."""
    found = sorted(path.stem for path in HERE.glob("bench_*.py"))
    wanted = list(names)
    return [m for m in found if not wanted or any(w in m for w in wanted)]


def as_rows(module: str, result: Any) -> list[Row]:
    """Whatever a module's main() returned, as rows of the summary table."""
    if result is None:
        return [Row(module, math.nan, "", "printed its figures above, returned no rows")]
    return [r if isinstance(r, Row) else Row(*r) for r in result]


def run_module(module: str) -> tuple[list[Row], bool]:
    """Import and run one bench with a clean argv (its own defaults); (rows, crashed)."""
    saved = sys.argv
    sys.argv = [f"tests.bench.{module}"]
    try:
        result = importlib.import_module(f"tests.bench.{module}").main()
        return as_rows(module, result), False
    except (Exception, SystemExit) as exc:  # one broken bench must not hide the others' figures
        traceback.print_exc()
        return [Row(module, math.nan, "", f"FAILED: {type(exc).__name__}: {exc}")], True
    finally:
        sys.argv = saved


def run_isolated(module: str) -> tuple[list[Row], bool]:
    """Run one bench in a fresh interpreter (output passes through); (rows, failed)."""
    with tempfile.TemporaryDirectory(prefix="wuye-bench-rows-") as tmp:
        out = Path(tmp) / "rows.json"
        command = [sys.executable, "-m", "tests.bench", "--child", module, "--rows-out", str(out)]
        try:
            status = subprocess.run(command, cwd=ROOT, timeout=MODULE_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            return [Row(module, math.nan, "", f"FAILED: over {MODULE_TIMEOUT_S} s")], True
        if not out.exists():
            return [Row(module, math.nan, "", f"FAILED: exit status {status}")], True
        return [Row(*r) for r in json.loads(out.read_text())], status != 0


def machine() -> str:
    """What the figures were measured on; a busy machine makes them incomparable."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load} at start"
    )


def print_table(rows: list[Row]) -> None:
    width = min(72, max([len(r.name) for r in rows] + [10]))
    rule = "-" * (width + 40)
    print(f"\n{'benchmark':<{width}} {'figure':>11} {'unit':<13} note")
    print(rule)
    for row in rows:
        print(row.format(width))
    print(rule)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only modules whose name contains these")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # run this one module, in-process
    parser.add_argument("--rows-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows, failed = run_module(args.child)
        Path(args.rows_out).write_text(json.dumps([list(r) for r in rows]))
        return 1 if failed else 0
    modules = discover(args.names)
    if not modules:
        print(f"no bench module matches {args.names}", file=sys.stderr)
        return 2
    header = machine()
    print(header, flush=True)
    started = time.monotonic()
    rows: list[Row] = []
    crashed = False
    for module in modules:
        print(f"\n== {module} ==", flush=True)
        module_rows, failed = run_isolated(module)
        rows.extend(module_rows)
        crashed = crashed or failed
    print_table(rows)
    print(f"{header}; all benches took {time.monotonic() - started:.0f} s")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
