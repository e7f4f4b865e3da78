"""Structured benchmark figures and the one table they are printed as (text or Markdown) or saved as (JSON).

Every benchmark returns a list of ``Figure``: a value with its unit, the baseline it is compared with (measured
in the same run, on the same machine) and, where issue 12 sets one, the target. The ratio is always
``value / baseline_value``; a target applies either to that ratio or to the value itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Op = Literal[">=", "<=", "<"]


@dataclass(frozen=True)
class Target:
    """``on`` the ratio or the value, ``op`` ``threshold``; ``text`` is what the table shows."""

    on: Literal["ratio", "value"]
    op: Op
    threshold: float
    text: str

    def met(self, figure: Figure) -> bool | None:
        if figure.skipped is not None:
            return None
        subject = figure.ratio if self.on == "ratio" else figure.value
        if subject is None or math.isnan(subject):
            return None
        if self.op == ">=":
            return subject >= self.threshold
        if self.op == "<=":
            return subject <= self.threshold
        return subject < self.threshold


def at_least(ratio: float, text: str) -> Target:
    return Target("ratio", ">=", ratio, text)


def at_most(value: float, text: str) -> Target:
    return Target("value", "<=", value, text)


def below(value: float, text: str) -> Target:
    return Target("value", "<", value, text)


@dataclass
class Figure:
    bench: str
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: Target | None = None
    note: str = ""
    #: Why there is no measurement (e.g. no Postgres on this machine, or the benchmark failed).
    skipped: str | None = None
    failed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.skipped is not None or not self.baseline_value or self.baseline_value <= 0:
            return None
        if math.isnan(self.value) or math.isnan(self.baseline_value):
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        return self.target.met(self) if self.target else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def skipped(bench: str, name: str, unit: str, baseline: str, reason: str, target: Target | None = None) -> Figure:
    return Figure(bench, name, math.nan, unit, baseline, math.nan, target=target, skipped=reason)


def failed(bench: str, reason: str) -> Figure:
    return Figure(bench, "(benchmark failed)", math.nan, "", "", math.nan, skipped=reason, failed=True)


def fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit in ("req/s", "/s") and abs(value) >= 100:
        return f"{value:,.0f}"
    if unit == "ms" and abs(value) < 1:
        return f"{value:.3f}"
    if unit == "s":
        return f"{value:.3f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _with_unit(value: float, unit: str) -> str:
    text = fmt(value, unit)
    return text if text == "—" else f"{text} {unit}"


HEADERS = ["bench", "figure", "value", "baseline (same run)", "baseline value", "ratio", "target", "met", "notes"]


def rows(figures: Iterable[Figure]) -> list[list[str]]:
    out = []
    for f in figures:
        ratio = f.ratio
        met = f.met
        verdict = "—" if met is None else ("yes" if met else "NO")
        if f.skipped is not None:
            verdict = "FAILED" if f.failed else "skipped"
        note = f.skipped if f.skipped is not None else f.note
        out.append([f.bench, f.name, _with_unit(f.value, f.unit), f.baseline, _with_unit(f.baseline_value, f.unit),
                    "—" if ratio is None else f"{ratio:.2f}x", f.target.text if f.target else "—", verdict, note])
    return out


def render_text(figures: Sequence[Figure]) -> str:
    table = [HEADERS, *rows(figures)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADERS) - 1)]
    numeric = {2, 4, 5}
    lines = []
    for n, row in enumerate(table):
        cells = [cell.rjust(widths[i]) if i in numeric and n else cell.ljust(widths[i])
                 for i, cell in enumerate(row[:-1])]
        lines.append("  ".join(cells) + ("  " + row[-1] if row[-1] else ""))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  -----")
    return "\n".join(lines)


def render_markdown(figures: Sequence[Figure]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---:" if i in (2, 4, 5) else "---" for i in range(len(HEADERS))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows(figures)]
    return "\n".join(lines)


def render(figures: Sequence[Figure], *, markdown: bool = False) -> str:
    return render_markdown(figures) if markdown else render_text(figures)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(figures: Sequence[Figure], **meta: Any) -> str:
    """NaN (no measurement) becomes null."""
    return json.dumps(_finite({**meta, "figures": [f.to_json() for f in figures]}), indent=2, allow_nan=False,
                      default=str)
