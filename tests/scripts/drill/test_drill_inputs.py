"""``drill --local``'s bad inputs: exact messages, exit 2, before anything is started."""

from __future__ import annotations

import pytest

from scripts.cli import main
from scripts.drill.local import DRILLS
from scripts.drill.options import METHODS
from scripts.errors import ExitCode


def test_every_method_has_a_drill():
    assert tuple(DRILLS) == METHODS


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method", "snapshot"], "invalid --method 'snapshot': wal or dump"),
        (["--method", "dump", "--wal-mb", "10"],
         "invalid --wal-mb 10: 0 with --method dump (a dump restore replays no WAL)"),
        (["--seed-users", "0"], "invalid --seed-users 0: a number from 1 to 1000"),
    ],
)  # fmt: skip
def test_a_bad_drill_option_is_refused_before_anything_starts(argv, message, capsys, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("scripts.drill.cli.run_local_drill", lambda *a: started.append(a))
    code = main(["drill", "--local", "--report-dir", str(tmp_path), *argv])
    assert code == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err
    assert started == [] and list(tmp_path.iterdir()) == []
