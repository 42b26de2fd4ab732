"""Benchmarks: `make bench` (python -m tests.bench) runs every bench_*.py here and tabulates them.

Each bench module exposes `main() -> list[Row]`: it may print progress and its own detail while
it runs; the runner prints one table of every module's rows at the end. They print figures;
they are not timed tests (DESIGN.md, "Testing").
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Row(NamedTuple):
    """One figure of a benchmark: what, how much, in what unit, and what to read it with."""

    name: str
    figure: float
    unit: str
    note: str = ""

    def format(self, name_width: int = 60) -> str:
        """The row as one line of the summary table (NaN = no figure, e.g. a skipped case)."""
        figure = "-" if math.isnan(self.figure) else f"{self.figure:,.2f}"
        return f"{self.name:<{name_width}} {figure:>11} {self.unit:<13} {self.note}".rstrip()
