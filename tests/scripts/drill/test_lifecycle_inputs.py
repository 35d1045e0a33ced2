"""``drill --lifecycle``'s inputs: each refused with what is allowed before anything is read or changed; a chain
whose baseline is missing, or that would start mid-incident, refused before its first change (moto)."""

from __future__ import annotations

import json

import pytest

from tests.scripts.world import invoke


def lifecycle(world, tmp_path, *extra: str):
    argv = ["drill", "--lifecycle", "--stack-outputs", str(world.outputs_path), "--kube-adapter",
            f"fake:{tmp_path / 'dr.json'}", "--report-dir", str(tmp_path / "reports"), "--json", *extra]  # fmt: skip
    return invoke(argv, aws=world.aws(), clock=world.clock)


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (
            (),
            2,
            "invalid --primary-kube-adapter None: kubectl or fake:FILE: recover and failback stop and start the "
            "primary site's IdP",
        ),
        (
            ("--primary-kube-adapter", "kubectl", "--probe-scheme", "ftp"),
            2,
            "invalid --probe-scheme 'ftp': https or http",
        ),
        (
            ("--primary-kube-adapter", "kubectl", "--dns-wait", "2h"),
            2,
            "invalid --dns-wait 7200.0: seconds from 0 to 3600",
        ),
        (
            ("--primary-kube-adapter", "kubectl", "--cleanup"),
            2,
            "invalid --cleanup True: not with --lifecycle (each drill of the chain cleans up after itself)",
        ),
        (
            ("--primary-kube-adapter", "kubectl", "--method", "dump"),
            2,
            "invalid --method 'dump': wal (not used with --lifecycle)",
        ),
        (
            ("--primary-kube-adapter", "kubectl"),
            3,
            "drill --lifecycle recovers the stack's database in place, fails it "
            "over and fails it back: it is for a staging stack",
        ),
    ],
)
def test_bad_flags_are_refused_before_any_call(world, tmp_path, extra, code, message):
    result = lifecycle(world, tmp_path, *extra)
    assert result.code == code
    assert result.error_line == message
    assert world.recorder.operations == []


def test_lifecycle_flags_are_refused_without_lifecycle(world, tmp_path):
    argv = ["drill", "--aws", "--stack-outputs", str(world.outputs_path), "--yes"]
    result = invoke(argv, aws=world.aws(), clock=world.clock)
    assert result.code == 2
    assert result.error_line == "invalid --yes True: a --lifecycle option"


def test_a_chain_without_a_baseline_is_refused_before_any_change(world, tmp_path):
    result = lifecycle(world, tmp_path, "--primary-kube-adapter", f"fake:{tmp_path / 'primary.json'}", "--yes")
    assert result.code == 2
    assert result.error_line.startswith("invalid --baseline 'latest': ")
    assert world.recorder.mutating() == []
    assert [(s["name"], s["status"]) for s in result.json()["steps"]] == [("baseline", "failed")]
    timeline = json.loads((tmp_path / "reports" / "timeline.json").read_text())
    assert timeline["steps"]["baseline"]["status"] == "failed"


def test_a_chain_is_refused_while_a_failover_is_in_effect(world, tmp_path):
    record = {"version": 1, "primary": {"region": "eu-central-1", "instance_id": "sso-dr-replica",
                                        "resource_id": "db-X"}, "failed_over_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    world.client("s3", "eu-central-1").put_object(
        Bucket=world.outputs["archive"]["drBucket"], Key="idp-dr/runbook/topology/state.json",
        Body=json.dumps(record).encode(),
    )  # fmt: skip
    world.recorder.calls.clear()
    result = lifecycle(world, tmp_path, "--primary-kube-adapter", f"fake:{tmp_path / 'primary.json'}", "--yes")
    assert result.code == 3
    assert result.error_line == (
        "a failover is in effect since 2026-12-01T10:00:00Z (the primary is sso-dr-replica in eu-central-1): a "
        "lifecycle game day starts from the primary region"
    )
    assert world.recorder.mutating() == []
