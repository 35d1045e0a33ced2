"""The incident's state and lock in the DR bucket (moto): one run at a time from any machine, a run
that died resumed from another working directory, a stale lock taken over only with a reason.

A run killed with SIGKILL cannot release its lock; the tests leave such a lock where a dead run
would (``lock.json`` naming another operator), since a process kill cannot be staged in-process.
"""

from __future__ import annotations

import json
import threading

from botocore.exceptions import ClientError

from scripts.aws.client import Aws
from scripts.runstate.store import Holder, S3Store
from tests.scripts.failover_world import InterruptOnce, make_kube, primary_down, run_failover
from tests.scripts.world import RUNBOOK_PREFIX

PREFIX = f"{RUNBOOK_PREFIX}sso.example.com/"
DEAD_RUN = {"by": "alice@laptop-7", "pid": 4242, "since": "2026-12-01T03:12:09Z", "command": "failover"}


def s3(world):
    return world.client("s3", world.outputs["drRegion"])


def leave_lock(world, holder=DEAD_RUN) -> None:
    s3(world).put_object(Bucket=world.outputs["archive"]["drBucket"], Key=PREFIX + "lock.json", Body=json.dumps(holder))


def lock_of(world):
    try:
        body = s3(world).get_object(Bucket=world.outputs["archive"]["drBucket"], Key=PREFIX + "lock.json")["Body"]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None
    return json.loads(body.read())


def test_a_second_failover_is_refused_naming_who_holds_the_incident(world, standby):
    primary_down(world)
    leave_lock(world)
    result = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert result.code == 3
    assert result.error_line.endswith(
        "this incident is being run by alice@laptop-7 (pid 4242, failover) since 2026-12-01T03:12:09Z "
        "(lock s3://example-sso-archive-euc1/idp-dr/runbook/sso.example.com/lock.json)"
    ), result.error_line
    assert "--force --reason" in result.hint_line
    assert world.recorder.mutating() == []  # nothing in production was touched
    assert lock_of(world) == DEAD_RUN  # and the other run's lock is left alone


def test_a_finished_run_releases_the_lock(world, standby):
    primary_down(world)
    assert run_failover(world, standby, "--yes", "--dns-wait", "0").code == 0
    assert lock_of(world) is None
    assert world.incident()["completed_at"]  # traffic cut; the incident stays open until failback
    assert world.incident_state()["completed_at"] is None


def test_a_dead_runs_lock_is_taken_over_only_with_a_reason_and_the_run_resumes_elsewhere(world, tmp_path, monkeypatch):
    kube = make_kube(world, InterruptOnce)
    primary_down(world)
    first = run_failover(world, kube, "--yes", "--dns-wait", "0")
    assert first.code == 130  # interrupted at scale-standby
    leave_lock(world)  # ... and its machine died before it could let go

    elsewhere = tmp_path / "another-laptop"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # nothing of the first run's local files here
    refused = run_failover(world, kube, "--yes", "--dns-wait", "0")
    assert refused.code == 3
    no_reason = run_failover(world, kube, "--yes", "--dns-wait", "0", "--force")
    assert no_reason.code == 2
    assert (
        no_reason.error_line == "invalid --reason None: a non-empty explanation when --force is given (it is recorded)"
    )

    resumed = run_failover(world, kube, "--yes", "--dns-wait", "0", "--force", "--reason", "alice's laptop died")
    assert resumed.code == 0, resumed.stderr
    statuses = {s["name"]: s["status"] for s in resumed.json()["steps"]}
    assert statuses["database"] == "skipped" and statuses["scale-standby"] == "resumed"
    assert world.recorder.operations.count("PromoteReadReplica") == 1
    [takeover] = world.incident()["lock_takeovers"]
    assert takeover["from"] == DEAD_RUN and takeover["reason"] == "alice's laptop died"
    assert lock_of(world) is None


def test_exactly_one_of_two_simultaneous_runs_gets_the_lock(world):
    bucket, region = world.outputs["archive"]["drBucket"], world.outputs["drRegion"]
    stores = [
        S3Store(Aws(world.session), bucket, region, PREFIX, local_dir=world.outputs_path.parent) for _ in range(2)
    ]
    barrier, outcomes = threading.Barrier(2), []

    def contend(store: S3Store, who: str) -> None:
        barrier.wait()
        try:
            store.acquire(Holder(who, 1, "now", "failover"), force=False, reason=None)
            outcomes.append(("won", who))
        except Exception as exc:  # noqa: BLE001 - the loser's refusal is the point
            outcomes.append(("refused", type(exc).__name__))

    threads = [threading.Thread(target=contend, args=(store, f"op{i}")) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kind for kind, _ in outcomes) == ["refused", "won"]
    assert ("refused", "RefusedError") in outcomes


def test_a_state_written_by_another_run_meanwhile_is_not_overwritten(world):
    bucket, region = world.outputs["archive"]["drBucket"], world.outputs["drRegion"]
    mine = S3Store(Aws(world.session), bucket, region, PREFIX, local_dir=world.outputs_path.parent)
    theirs = S3Store(Aws(world.session), bucket, region, PREFIX, local_dir=world.outputs_path.parent)
    mine.read_state()
    mine.write_state({"v": 1})
    theirs.read_state()
    theirs.write_state({"v": 2})
    try:
        mine.write_state({"v": 3})
    except Exception as exc:  # noqa: BLE001
        assert "was changed by another run" in str(getattr(exc, "message", exc))
    else:
        raise AssertionError("a stale write went through")
    body = s3(world).get_object(Bucket=bucket, Key=PREFIX + "state.json")["Body"].read()
    assert json.loads(body) == {"v": 2}


def test_an_unreadable_lock_still_holds_the_incident(world, standby):
    primary_down(world)
    s3(world).put_object(Bucket=world.outputs["archive"]["drBucket"], Key=PREFIX + "lock.json", Body=b"\x00garbage")
    result = run_failover(world, standby, "--yes", "--dns-wait", "0")
    assert result.code == 3
    assert "this incident is being run by an unknown run (its lock.json cannot be read)" in result.error_line
    assert world.recorder.mutating() == []
