"""A damaged, crafted or misplaced state directory is bad input naming what to do, never a traceback,
and the failover changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.scripts.failover_world import primary_down, run_failover

HINT = "this is not a state file this version of idp-dr wrote; move {path} aside to start a new incident"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"version": 1, "record": "sso.exa', "not JSON"),
        ("[1, 2]", "it holds list"),
        (json.dumps({"version": 1, "record": "r", "mode": "promote", "incident_id": "fo", "started_at": "t",
                     "runs": [], "steps": []}), "missing or mistyped: steps"),
        (json.dumps({"version": 99, "record": "r", "mode": "promote", "incident_id": "fo", "started_at": "t",
                     "runs": [], "steps": {}}), "this one is version 99"),
        (json.dumps({"version": True, "record": "r", "mode": "promote", "incident_id": "fo", "started_at": "t",
                     "runs": [], "steps": {}}), "missing or mistyped: version"),
    ],
)  # fmt: skip
def test_an_unreadable_state_file_is_refused_before_any_change(world, standby, tmp_path, content, problem):
    state_dir = tmp_path / "incident"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(content)
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(state_dir))
    assert result.code == 2, result.stderr
    error = result.json()["error"]
    assert error["message"].startswith(f"invalid --state-dir '{state_dir / 'state.json'}': a state.json written by")
    assert problem in error["message"]
    assert error["hint"].startswith(HINT.format(path=state_dir / "state.json"))
    assert world.recorder.mutating() == []
    assert (state_dir / "state.json").read_text() == content  # left as it was, for the record


def test_a_state_dir_that_is_a_file_is_refused(world, standby, tmp_path):
    not_a_dir = tmp_path / "incident"
    not_a_dir.write_text("x")
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(not_a_dir))
    assert result.code == 2
    assert result.json()["error"]["message"] == (
        f"invalid --state-dir '{not_a_dir}': a directory for the incident's state (this is a file)"
    )
    assert world.recorder.mutating() == []
