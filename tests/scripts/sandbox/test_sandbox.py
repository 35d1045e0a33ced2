"""The documented path end to end: ``sandbox`` (a real ``moto_server``), then the commands as an operator
runs them, in separate processes, over HTTP. Kubernetes and the IdP sites are the sandbox's labelled
simulations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.stack_outputs import load_stack_outputs

REPO = Path(__file__).resolve().parents[3]


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scripts", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture
def sandbox(tmp_path):
    workdir = tmp_path / "sandbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts", "sandbox", "--dir", str(workdir), "--exit-after", "300"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (workdir / "env.sh").is_file():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "sandbox did not start within 60 s"
            time.sleep(0.2)
        for line in (workdir / "env.sh").read_text().splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        yield workdir, env, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.integration
def test_the_documented_commands_work_against_the_sandbox(sandbox):
    workdir, env, proc = sandbox
    outputs = workdir / "outputs.json"
    assert load_stack_outputs(str(outputs)).database.drReplicaInstanceId == "sso-dr-replica"

    restore = _cli(env, "restore", "rds", "--source", "sso-db", "--target", "pitr-e2e", "--latest", "--json")
    assert restore.returncode == 0, restore.stderr
    assert json.loads(restore.stdout)["result"]["endpoint"].startswith("pitr-e2e.")

    base = [
        "--stack-outputs",
        str(outputs),
        "--kube-adapter",
        f"fake:{workdir / 'kube.json'}",
        "--probe-scheme",
        "http",
        "--state-dir",
        str(workdir / "incident"),
    ]
    refused = _cli(env, "failover", *base, "--yes")
    assert refused.returncode == 3  # moto reports the primary healthy: refused without --force
    assert (
        "error: refusing to fail over a primary that looks healthy: Route 53 reports the primary healthy"
        in refused.stderr
    )

    done = _cli(env, "failover", *base, "--yes", "--force", "--reason", "e2e", "--dns-wait", "0", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {s["name"]: s["status"] for s in doc["steps"]}["validate"] == "ok"
    assert any(n.startswith("SIMULATED Kubernetes") for n in doc["notes"])

    failback = _cli(env, "failback", *base, "--yes")
    assert failback.returncode == 3  # the primary is still down (control.json)

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopped by SIGTERM" in out and "Ctrl-C" not in out


@pytest.mark.integration
def test_recover_swaps_a_restored_instance_in_on_the_sandbox(sandbox):
    workdir, env, _ = sandbox
    (workdir / "control.json").write_text(json.dumps({"primary_up": True}))  # a healthy region, damaged data
    base = [
        "recover",
        "--stack-outputs",
        str(workdir / "outputs.json"),
        "--kube-adapter",
        f"fake:{workdir / 'primary-kube.json'}",
        "--probe-scheme",
        "http",
        "--latest",
        "--expect-realm",
        "company",
        "--state-dir",
        str(workdir / "recover"),
        "--json",
    ]
    dry = _cli(env, *base, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["result"]["plan"]
    assert len(plan) == 11  # with the topology record and the DR replica's rename and rebuild
    assert plan[-1].startswith("rds:CreateDBInstanceReadReplica sso-dr-replica of sso-db (eu-central-1")
    done = _cli(env, *base, "--yes")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [s["status"] for s in doc["steps"] if "." not in s["name"]] == ["ok"] * 8
    stamp = doc["result"]["restore"]["target"].removeprefix("sso-db-recover-")
    import boto3

    rds = boto3.client(
        "rds",
        region_name="eu-west-1",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    ids = {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}
    assert {"sso-db", f"sso-db-damaged-{stamp}"} <= ids and f"sso-db-recover-{stamp}" not in ids
    dr = boto3.client(
        "rds",
        region_name="eu-central-1",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    [rebuilt] = dr.describe_db_instances(DBInstanceIdentifier="sso-dr-replica")["DBInstances"]
    assert rebuilt["ReadReplicaSourceDBInstanceIdentifier"].endswith(":db:sso-db")  # follows the restored primary
    assert f"sso-dr-replica-stale-{stamp}" in {
        i["DBInstanceIdentifier"] for i in dr.describe_db_instances()["DBInstances"]
    }
    assert (workdir / "recover" / "postmortem.md").read_text().startswith("# Post-mortem: recover of sso-db")
    kube = json.loads((workdir / "primary-kube.json").read_text())
    assert kube["deployments"]["identity/keycloak"]["replicas"] == 2


@pytest.mark.integration
def test_drill_aws_runs_to_a_green_report_in_the_sandbox_and_leaves_nothing(sandbox):
    workdir, env, _ = sandbox
    kube = workdir / "kube.json"
    argv = ["drill", "--aws", "--stack-outputs", str(workdir / "outputs.json"), "--kube-adapter", f"fake:{kube}",
            "--report-dir", str(workdir / "reports"), "--poll-interval", "1", "--json"]  # fmt: skip
    done = _cli(env, *argv)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [s["status"] for s in doc["steps"] if "." not in s["name"]] == ["ok"] * 9
    assert any(n.startswith("SIMULATED: ") for n in doc["notes"])
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    assert checks["verify.token.signature"] == checks["verify.jwks.baseline_overlap"] == "pass"
    preflight = next(s for s in doc["steps"] if s["name"] == "preflight")
    assert preflight["detail"]["baseline"].startswith("s3://example-sso-archive-euc1/idp-dr/baselines/")
    state = json.loads(kube.read_text())
    assert not [k for k in state["objects"] if "/identity-drill/" in k]
    import boto3

    credentials = {"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
    rds = boto3.client("rds", region_name="eu-central-1", endpoint_url=env["AWS_ENDPOINT_URL"], **credentials)
    assert not [i for i in rds.describe_db_instances()["DBInstances"]
                if i["DBInstanceIdentifier"].startswith("idp-dr-drill-")]  # fmt: skip


def _documented_lifecycle(workdir: Path) -> list[str]:
    """The ``drill --lifecycle`` command of docs/runbook/lifecycle.md's sandbox block, on this sandbox's files."""
    text = (REPO / "docs" / "runbook" / "lifecycle.md").read_text()
    block = text.split("<!-- lifecycle-sandbox:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    command = block.replace("\\\n", " ").splitlines()
    [line] = [c for c in command if c.startswith("python -m scripts drill --lifecycle")]
    assert "echo '{\"primary_up\": true}' > sandbox/control.json" in command
    return [arg.replace("sandbox/", f"{workdir}/") for arg in line.split()[3:]]


@pytest.mark.integration
def test_the_lifecycle_game_day_runs_green_in_the_sandbox_from_the_docs_command_twice(sandbox):
    workdir, env, _ = sandbox
    (workdir / "control.json").write_text(json.dumps({"primary_up": True}))
    argv = _documented_lifecycle(workdir)
    for run in (1, 2):  # a second game day on what the first left: the chain closes
        done = _cli(env, *argv, "--json", "--report-dir", str(workdir / f"lifecycle-{run}"))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        doc = json.loads(done.stdout)
        assert [(s["name"], s["status"]) for s in doc["steps"]] == [
            (name, "ok") for name in ("baseline", "drill", "recover", "drill-after-recover", "failover", "reprotect",
                                      "failback", "drill-after-failback")
        ]  # fmt: skip
        checks = {c["name"]: c["status"] for c in doc["checks"]}
        for step in ("recover", "failover", "failback", "drill-after-failback"):
            assert checks[f"{step}.idp.token.signature"] == checks[f"{step}.idp.jwks.baseline_overlap"] == "pass"
        assert checks["failback.protection.replica"] == checks["failback.protection.backups"] == "pass"
        ran = [s["detail"]["command"]["argv"] for s in doc["steps"] if "command" in s["detail"]]
        assert not [argv for argv in ran if "--force" in argv]  # no override anywhere in the chain
        assert [argv[0] for argv in ran if "--planned" in argv] == ["failover"]  # the game day's planned failover
        timeline = json.loads((workdir / f"lifecycle-{run}" / "timeline.json").read_text())
        assert timeline["completed_at"] and list(timeline["steps"]) == [s["name"] for s in doc["steps"]]
