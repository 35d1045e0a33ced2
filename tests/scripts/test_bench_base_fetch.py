"""bench.base_fetch's arithmetic: paired ratios per round, medians, CPUs busy; its arm order and its local writer."""

from __future__ import annotations

from pathlib import Path

from bench import base_fetch as bench
from scripts.pg.osuser import pg_os_user
from scripts.wal.base_fetch import TarObject
from tests.scripts.tars import tar_of


def _round(ranged: float, local: float, restore: float, *, barman: float | None = None) -> dict:
    arms = {"ranged": ranged, "local": local, "restore": restore, **({"barman": barman} if barman else {})}
    return {name: {"s": s, "cpu_ours_s": s, "cpu_store_s": s / 2} for name, s in arms.items()}


def test_ratios_are_paired_within_a_round_then_the_median_is_taken():
    rounds = [_round(1.0, 0.5, 2.0), _round(2.0, 0.5, 2.0), _round(0.5, 1.5, 3.0)]
    summary = bench.summarize_rounds(rounds, 100 * 2**20)
    assert summary["median_s"] == {"ranged": 1.0, "local": 0.5, "restore": 2.0}
    assert summary["mib_per_s"] == {"ranged": 100.0, "local": 200.0, "restore": 50.0}
    # per round: 0.5, 1.0, 0.167 -> 0.5 (the ratio of the medians would say the same here, not in general)
    assert summary["restore_vs_ranged"] == 0.5
    # the slower floor per round: 1.0/2.0, 2.0/2.0, 1.5/3.0
    assert summary["restore_vs_floor"] == 0.5
    assert summary["local_over_ranged"] == 0.5
    assert summary["cpus_busy"] == {"ranged": 1.5, "local": 1.5, "restore": 1.5}
    assert "restore_vs_barman" not in summary


def test_barman_cloud_restore_is_compared_when_timed():
    rounds = [_round(1.0, 0.5, 2.0, barman=8.0), _round(1.0, 0.5, 2.0, barman=6.0)]
    assert bench.summarize_rounds(rounds, 2**20)["restore_vs_barman"] == 3.5


def test_the_arm_order_rotates_from_round_to_round(monkeypatch, tmp_path):
    seen: list[str] = []
    monkeypatch.setattr(bench, "_arm", lambda name, *_: lambda: seen.append(name))
    monkeypatch.setattr(bench, "make_user_dir", lambda path, user: path)
    src = {"user": None, "store_pid": None}
    for n in range(3):
        bench.one_round(src, [], tmp_path, n, bench.ARMS)
    assert seen == ["ranged", "local", "restore", "local", "restore", "ranged", "restore", "ranged", "local"]


def test_the_local_arm_writes_each_part_as_a_tar_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(bench.base_fetch, "DEFAULT_PART_SIZE", 4096)  # several ranges per part
    objects = {"pg/p/base/B/data.tar": tar_of({"a": b"1" * 5000}), "pg/p/base/B/data_0001.tar": tar_of({"b": b"2" * 9})}
    tars = [TarObject(key, len(data), None, n) for n, (key, data) in enumerate(objects.items())]
    parts = [data[lo : hi + 1] for key, data in objects.items() for k, lo, hi in bench._ranges(tars) if k == key]
    user = pg_os_user()
    bench._write_local({"user": user, "tars": tars}, parts, tmp_path)
    assert (tmp_path / "a").read_bytes() == b"1" * 5000 and (tmp_path / "b").read_bytes() == b"2" * 9
    assert (tmp_path / "a").stat().st_uid == user.uid


def test_the_module_is_listed_in_the_bench_runner():
    runner = (Path(bench.__file__).parent / "__main__.py").read_text()
    assert '"base_fetch",' in runner
