"""Benchmark counts are refused below 1 with the value and what is allowed (never a traceback)."""

from __future__ import annotations

import pytest

from bench import drill, verify_requests


@pytest.mark.parametrize("module", [drill, verify_requests])
@pytest.mark.parametrize("value", ["0", "-2", "three"])
def test_a_run_count_below_one_is_refused_before_anything_runs(module, value, capsys):
    with pytest.raises(SystemExit) as exc:
        module.main(["--runs", value])
    assert exc.value.code == 2
    assert f"argument --runs: {value!r}: a whole number of at least 1" in capsys.readouterr().err
