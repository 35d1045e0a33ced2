"""Drill building blocks that need no servers: marker classification and the timeline chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scripts.drill.chart import Span, timeline_png
from scripts.drill.workload import Marker, classify

T = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def markers(*offsets: float) -> list[Marker]:
    return [Marker(i, f"m{i}", T + timedelta(seconds=o)) for i, o in enumerate(offsets)]


def test_markers_before_target_must_be_present_and_after_absent():
    written = markers(-3, -2, 2, 3)
    verdict = classify(written, {"m0", "m1"}, T)
    assert (verdict.ok, verdict.expected_present, verdict.expected_absent) == (True, 2, 2)


def test_a_lost_marker_before_the_target_fails():
    verdict = classify(markers(-3, -2, 2), {"m0"}, T)
    assert not verdict.ok and verdict.missing == ["m1"] and verdict.revived == []


def test_a_revived_marker_after_the_target_fails():
    verdict = classify(markers(-3, 2), {"m0", "m1"}, T)
    assert not verdict.ok and verdict.revived == ["m1"]


def test_timeline_chart_is_a_png_with_one_bar_per_phase(tmp_path):
    from PIL import Image

    spans = [
        Span("setup", 0, 40, "setup"),
        Span("workload", 40, 55, "workload"),
        Span("restore", 56, 70, "recovery"),
        Span("verify", 70, 74, "verify"),
    ]
    path = timeline_png(spans, tmp_path / "timeline.png", title="drill", markers={"target": 47.0}, rto_s=18.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = Image.open(path).size
    assert width == 1100
    taller = timeline_png(spans * 2, tmp_path / "taller.png", title="drill")
    assert Image.open(taller).size[1] > height


@pytest.mark.parametrize("offset", [0.0])
def test_a_marker_exactly_at_the_target_counts_for_neither_side(offset):
    verdict = classify(markers(offset), set(), T)
    assert (verdict.expected_present, verdict.expected_absent) == (0, 0)
