"""The journal every resumable command runs on (recover, restore dump, reprotect, failover, failback): what it
keeps per step, what a re-run does with it, and that a held journal writes nothing."""

from __future__ import annotations

import json

import pytest

from scripts.errors import RefusedError, WaitTimeout
from scripts.report import Report
from scripts.runstate import Journal
from scripts.runstate.store import LocalStore


def _journal(tmp_path, **kwargs) -> Journal:
    return Journal.open(LocalStore(tmp_path / "state"), command="failover", subject="sso.example.com", **kwargs)


def _raise(exc: BaseException):
    def action():
        raise exc

    return action


def _saved(tmp_path) -> dict:
    return json.loads((tmp_path / "state" / "state.json").read_text())


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (KeyboardInterrupt(), "interrupted"),
        (WaitTimeout("no answer in 30 s"), "timed-out"),
        (RefusedError("refusing"), "refused"),
        (RuntimeError("boom"), "failed"),
    ],
)
def test_a_step_that_raises_is_kept_with_how_it_ended(tmp_path, exc, status):
    journal = _journal(tmp_path)
    with pytest.raises(type(exc)):
        journal.run(Report("t"), "database", _raise(exc))
    step = _saved(tmp_path)["steps"]["database"]
    assert step["status"] == status and step["attempts"] == 1 and step["ended_at"]


def test_a_held_journal_writes_nothing_until_it_is_let_go(tmp_path):
    journal = _journal(tmp_path)
    journal.held = True
    journal.run(Report("t"), "detect", lambda: {"found": 1})
    assert not (tmp_path / "state" / "state.json").exists()
    journal.held = False
    journal.save()
    assert _saved(tmp_path)["steps"]["detect"]["status"] == "ok"


def test_a_step_resumed_after_an_interruption_is_reported_resumed_and_counts_its_attempts(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _journal(tmp_path).run(Report("t"), "scale", _raise(KeyboardInterrupt()))
    report = Report("t")
    _journal(tmp_path).run(report, "scale", lambda: None)
    [step] = report.steps
    assert step.status == "resumed" and step.detail["resumed_after"] == "interrupted"
    assert _saved(tmp_path)["steps"]["scale"]["attempts"] == 2


def test_a_finished_step_is_skipped_and_an_always_step_runs_again(tmp_path):
    first = _journal(tmp_path)
    first.run(Report("t"), "detect", lambda: None)
    first.run(Report("t"), "preflight", lambda: None, always=True)
    calls = []
    report = Report("t")
    again = _journal(tmp_path)
    again.run(report, "detect", lambda: calls.append("detect"))
    again.run(report, "preflight", lambda: calls.append("preflight"), always=True)
    assert calls == ["preflight"]
    assert [(s.name, s.status) for s in report.steps] == [("detect", "skipped"), ("preflight", "ok")]


def test_a_deferred_step_is_not_done_and_the_next_run_tries_it_again(tmp_path):
    journal = _journal(tmp_path)
    report = Report("t")
    journal.run(report, "reprotect", lambda: {"_deferred": True, "reason": "region down"})
    assert report.steps[0].status == "skipped" and not journal.done("reprotect")
    saved = _saved(tmp_path)["steps"]["reprotect"]
    assert saved["status"] == "deferred" and saved["detail"] == {"reason": "region down"}
    calls = []
    _journal(tmp_path).run(Report("t"), "reprotect", lambda: calls.append(1))
    assert calls == [1] and _saved(tmp_path)["steps"]["reprotect"]["status"] == "ok"


def test_opened_without_counting_a_run_leaves_the_runs_as_they_were(tmp_path):
    journal = _journal(tmp_path)
    journal.finish("interrupted", completed=False)
    _journal(tmp_path, as_run=False).save()
    assert [r["result"] for r in _saved(tmp_path)["runs"]] == ["interrupted"]
    _journal(tmp_path).save()
    assert [r["result"] for r in _saved(tmp_path)["runs"]] == ["interrupted", None]


def test_an_older_format_is_upgraded_before_its_shape_is_checked(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text(json.dumps({"old": True}))
    seen = []

    def upgrade(data):
        seen.append(data)
        return {"version": 1, "command": "failover", "subject": "sso.example.com", "started_at": "t",
                "completed_at": None, "pinned": {"from": "old"}, "steps": {}, "runs": []}  # fmt: skip

    journal = _journal(tmp_path, upgrade=upgrade)
    assert seen == [{"old": True}] and journal.pinned == {"from": "old"}
