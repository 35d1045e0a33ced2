"""Benchmark counts are refused below 1 with the value and what is allowed (never a traceback)."""

from __future__ import annotations

import pytest

from bench import archive_wal, base_fetch, drill, replay_settings, verify_requests


@pytest.mark.parametrize(
    ("module", "flag"),
    [(archive_wal, "--runs"), (drill, "--runs"), (replay_settings, "--runs"), (verify_requests, "--runs"),
     (base_fetch, "--rounds")],
)  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-2", "three"])
def test_a_run_count_below_one_is_refused_before_anything_runs(module, flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main([flag, value])
    assert exc.value.code == 2
    assert f"argument {flag}: {value!r}: a whole number of at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["1", "2,33", "four", ""])
def test_archive_widths_outside_2_to_32_are_refused_before_anything_runs(value, capsys):
    with pytest.raises(SystemExit) as exc:
        archive_wal.main(["--parallel", value])
    assert exc.value.code == 2
    assert f"argument --parallel: {value!r}: comma-separated whole numbers from 2 to 32" in capsys.readouterr().err


def test_the_drill_wal_prefetch_choice_is_refused_outside_its_two_values(capsys):
    with pytest.raises(SystemExit) as exc:
        drill.main(["--wal-prefetch", "never"])
    assert exc.value.code == 2
    assert "argument --wal-prefetch: invalid choice: 'never' (choose from" in capsys.readouterr().err


def test_a_token_probe_shorter_than_its_warmup_and_one_window_is_refused_before_anything_runs(capsys):
    from bench import keycloak_start

    with pytest.raises(SystemExit) as exc:
        keycloak_start.main(["--load-seconds", "19"])
    assert exc.value.code == 2
    assert "invalid --load-seconds 19: at least 20" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["drill", "base_fetch"])
@pytest.mark.parametrize("value", ["", "100,x", "0,1024", "-5"])
def test_sizes_that_are_not_whole_mib_of_at_least_one_are_refused_before_anything_runs(module, value, capsys):
    import importlib

    with pytest.raises(SystemExit) as exc:
        importlib.import_module(f"bench.{module}").main(["--sizes", value])
    assert exc.value.code == 2
    assert (
        f"argument --sizes: {value!r}: comma-separated whole numbers of MiB, each at least 1" in capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_negative_table_count_is_refused_before_anything_runs(value, capsys):
    with pytest.raises(SystemExit) as exc:
        base_fetch.main(["--tables", value])
    assert exc.value.code == 2
    assert f"argument --tables: {value!r}: a whole number of at least 0" in capsys.readouterr().err
