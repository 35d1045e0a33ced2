"""A damaged, crafted or misplaced state directory is bad input naming what to do, never a traceback,
and the failover changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.scripts.failover_world import InterruptOnce, make_kube, primary_down, run_failover

HINT = "move {path} aside to start over (it stays there for the record)"
INCIDENT_HINT = "move {path} aside to start a new incident (it stays there for the record)"
JOURNAL = "a journal written by failover (version 1)"


def _journal(**change):
    incident = {"incident_id": "fo-1", "mode": "promote", "record": "sso.example.com", "declared_at": "t"}
    journal = {"version": 1, "command": "failover", "subject": "sso.example.com", "started_at": "t",
               "completed_at": None, "pinned": {"incident": incident}, "steps": {}, "runs": []}  # fmt: skip
    incident.update(change.pop("incident", {}))
    return json.dumps({**journal, **change})


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        ('{"version": 1, "record": "sso.exa', f"{JOURNAL}; this one is not JSON", HINT),
        ("[1, 2]", f"{JOURNAL}; it holds list", HINT),
        # a format-1 state.json (before the journal) that is damaged: not upgraded, named
        (json.dumps({"version": 1, "record": "r", "mode": "promote", "incident_id": "fo", "started_at": "t",
                     "runs": [], "steps": []}), f"{JOURNAL}; missing or mistyped: command, subject, pinned, steps",
         HINT),
        (_journal(version=99), f"{JOURNAL}; this one was written by failover version 99", HINT),
        (_journal(command="recover"), f"{JOURNAL}; this one was written by recover version 1", HINT),
        (_journal(version=True), f"{JOURNAL}; missing or mistyped: version", HINT),
        (_journal(incident={"declared_at": 5}),
         "a failover journal whose pinned.incident holds the incident's fields; missing or mistyped: declared_at",
         INCIDENT_HINT),
        (_journal(incident={"db": {"host": "db", "port": "5432"}}),
         "a failover journal whose pinned.incident holds the incident's fields; missing or mistyped: db",
         INCIDENT_HINT),
        (_journal(pinned={"incident": ["fo-1"]}),
         "a failover journal whose pinned.incident holds the incident's fields; it holds list", INCIDENT_HINT),
    ],
)  # fmt: skip
def test_an_unreadable_state_file_is_refused_before_any_change(world, standby, tmp_path, content, message, hint):
    state_dir = tmp_path / "incident"
    state_dir.mkdir()
    (state_dir / "state.json").write_text(content)
    primary_down(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(state_dir))
    assert result.code == 2, result.stderr
    error = result.json()["error"]
    assert error["message"] == f"invalid --state-dir '{state_dir / 'state.json'}': {message}"
    assert error["hint"] == hint.format(path=state_dir / "state.json")
    assert world.recorder.mutating() == []
    assert (state_dir / "state.json").read_text() == content  # left as it was, for the record


def _as_format_1(journal: dict) -> dict:
    """The incident as idp-dr wrote it before the journal (``state.json`` format 1: its own step engine), laid
    out key by key as that version did: the facts at the top level, each step with ``started_at`` and its
    ``detail``, a deferred step as ``skipped-deferred``."""
    incident = journal["pinned"]["incident"]
    steps = {
        name: {"status": {"deferred": "skipped-deferred"}.get(s["status"], s["status"]), "started_at":
               s["first_started_at"], "first_started_at": s["first_started_at"], "ended_at": s["ended_at"],
               "detail": s.get("detail", {}), "attempts": s["attempts"]}
        for name, s in journal["steps"].items()
    }  # fmt: skip
    runs = [{**r, "forced": False, "dry_run": False} for r in journal["runs"]]
    return {"version": 1, "tool_version": "0.2.0", "started_at": journal["started_at"], **incident,
            "runs": runs, "steps": steps}  # fmt: skip


def test_an_incident_left_open_by_the_previous_format_resumes_where_it_stopped(world, tmp_path):
    """An upgrade of idp-dr in the middle of an incident: the format-1 state.json is read, upgraded to the
    journal, and the failover resumes at the interrupted step without promoting twice."""
    kube = make_kube(world, InterruptOnce)
    primary_down(world)
    state_dir = tmp_path / "incident"
    first = run_failover(world, kube, "--yes", "--dns-wait", "0", "--state-dir", str(state_dir))
    assert first.code == 130  # interrupted at scale-standby
    old = _as_format_1(json.loads((state_dir / "state.json").read_text()))
    (state_dir / "state.json").write_text(json.dumps(old))

    resumed = run_failover(world, kube, "--yes", "--dns-wait", "0", "--state-dir", str(state_dir))
    assert resumed.code == 0, resumed.stderr
    statuses = {s["name"]: s["status"] for s in resumed.json()["steps"]}
    assert statuses["database"] == "skipped" and statuses["scale-standby"] == "resumed"
    assert world.recorder.operations.count("PromoteReadReplica") == 1
    journal = json.loads((state_dir / "state.json").read_text())
    assert journal["command"] == "failover" and journal["upgraded_from"] == "state.json format 1"
    incident = journal["pinned"]["incident"]
    assert incident["incident_id"] == old["incident_id"] and incident["declared_at"] == old["declared_at"]
    assert journal["steps"]["scale-standby"]["attempts"] == 2


def test_a_state_dir_that_is_a_file_is_refused(world, standby, tmp_path):
    not_a_dir = tmp_path / "incident"
    not_a_dir.write_text("x")
    result = run_failover(world, standby, "--yes", "--dns-wait", "0", "--state-dir", str(not_a_dir))
    assert result.code == 2
    assert result.json()["error"]["message"] == (
        f"invalid --state-dir '{not_a_dir}': a directory for the incident's state (this is a file)"
    )
    assert world.recorder.mutating() == []
