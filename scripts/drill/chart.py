"""A timeline chart (PNG) of a drill's phases, for the post-mortem and the README."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; must precede pyplot
import matplotlib.pyplot as plt

PHASE_COLORS = {
    "setup": "#b0b0b0",
    "workload": "#8fb3d9",
    "disaster": "#d9534f",
    "recovery": "#5cb85c",
    "verify": "#f0ad4e",
    "audit": "#c9a0dc",
}


@dataclass(frozen=True)
class Span:
    name: str
    start_s: float  # seconds since the drill started
    end_s: float
    group: str  # a key of PHASE_COLORS


def timeline_png(
    spans: list[Span], path: Path, *, title: str, markers: dict[str, float] | None = None, rto_s: float | None = None
) -> Path:
    """Draw one horizontal bar per span; vertical lines for named instants (target, disaster)."""
    fig_height = 1.2 + 0.42 * len(spans)
    fig, ax = plt.subplots(figsize=(10, fig_height), dpi=110)
    for row, span in enumerate(reversed(spans)):
        width = max(span.end_s - span.start_s, 0.05)
        ax.barh(
            row,
            width,
            left=span.start_s,
            color=PHASE_COLORS.get(span.group, "#777777"),
            edgecolor="black",
            linewidth=0.4,
        )
        ax.text(span.end_s + 0.3, row, f"{span.end_s - span.start_s:.1f} s", va="center", fontsize=8)
    # Room for the duration labels right of the bars (short drills end within a second).
    end = max([s.end_s for s in spans] + list((markers or {}).values()) + [0.0])
    ax.set_xlim(0, end + max(1.5, 0.12 * end))
    ax.set_yticks(range(len(spans)))
    ax.set_yticklabels([s.name for s in reversed(spans)], fontsize=9)
    for label, at in (markers or {}).items():
        ax.axvline(at, color="black", linestyle="--", linewidth=0.8)
        ax.text(at, len(spans) - 0.4, f" {label}", fontsize=8, va="bottom")
    ax.set_xlabel("seconds since the drill started")
    subtitle = f"  (RTO {rto_s:.1f} s)" if rto_s is not None else ""
    ax.set_title(title + subtitle, fontsize=10)
    ax.grid(axis="x", linestyle=":", linewidth=0.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
