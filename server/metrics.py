"""A few Prometheus counters and histograms kept in-process, rendered as text at /metrics."""

from __future__ import annotations

from collections import defaultdict

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, value_s: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        row = self.histograms.setdefault(key, [0.0] * (len(BUCKETS_S) + 2))
        for i, bound in enumerate(BUCKETS_S):
            if value_s <= bound:
                row[i] += 1
        row[-2] += 1  # count
        row[-1] += value_s  # sum

    def render(self) -> str:
        lines: list[str] = []
        for (name, labels), value in sorted(self.counters.items()):
            lines.append(f"{name}{_fmt(labels)} {value:g}")
        for (name, labels), row in sorted(self.histograms.items()):
            for bound, count in zip(BUCKETS_S, row, strict=False):
                lines.append(f"{name}_bucket{_fmt((*labels, ('le', f'{bound:g}')))} {count:g}")
            lines.append(f"{name}_bucket{_fmt((*labels, ('le', '+Inf')))} {row[-2]:g}")
            lines.append(f"{name}_count{_fmt(labels)} {row[-2]:g}")
            lines.append(f"{name}_sum{_fmt(labels)} {row[-1]:.6f}")
        return "\n".join(lines) + "\n"


def _fmt(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"


METRICS = Metrics()
