"""How soon does ``restore rds`` notice that the new instance is available, and what does it cost?

    python -m bench.rds_restore_wait [--runs 5] [--waiter-runs 3] [--delay-min 4] [--delay-max 12]

Setup: a real ``moto_server`` on loopback (HTTP, as the scripts talk to AWS), seeded with the
sandbox topology. moto makes a restored instance available at once, so a provisioning delay is
injected client-side: ``DescribeDBInstances`` reports the new instance as ``creating`` until a
random delay (uniform in [delay-min, delay-max] s, seeded) has passed since the restore call.

Arms, interleaved:

* ``ours``   ``scripts.restore.rds.execute.restore_rds`` with its default poll interval (5 s).
* ``waiter`` boto3's ``db_instance_available`` waiter with its default config (30 s delay), the
             baseline an ad-hoc script would use.

Metrics per run: *notice latency* = moment the call returned "available" minus the moment the
instance became available; the script's own time per phase (validate, call) and polls and
API calls per restore. Medians are reported; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import boto3

from bench._common import positive_int, run_main, summarize, write_result
from scripts.aws.client import Aws
from scripts.lab.s3 import LAB_AWS_ENV, S3Server
from scripts.pg.osuser import make_workspace, remove_tree
from scripts.polling import Clock
from scripts.processes import Supervisor
from scripts.report import Report
from scripts.restore.rds.execute import restore_rds
from scripts.restore.rds.request import DEFAULT_POLL_S, RestoreSpec
from scripts.sandbox.topology import seed_topology


class ProvisioningDelay:
    """``after-call`` hook: the target reads as 'creating' until ``ready_at`` (monotonic)."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.ready_at = 0.0
        self.delay = 0.0

    def arm(self, target: str, delay: float) -> None:
        self.target, self.delay, self.ready_at = target, delay, float("inf")

    def started(self) -> None:
        self.ready_at = time.monotonic() + self.delay

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.target is None:
            return
        for inst in parsed.get("DBInstances", []):
            if inst.get("DBInstanceIdentifier") == self.target and time.monotonic() < self.ready_at:
                inst["DBInstanceStatus"] = "creating"


def _session(hook: ProvisioningDelay, calls: list[str]) -> boto3.Session:
    session = boto3.Session(
        aws_access_key_id=LAB_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LAB_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    session.events.register("after-call.rds.DescribeDBInstances", hook)
    session.events.register("before-call", lambda model, **_: calls.append(model.name))
    session.events.register("after-call.rds.RestoreDBInstanceToPointInTime", lambda **_: hook.started())
    return session


def run_ours(session: boto3.Session, hook: ProvisioningDelay, target: str, poll: float) -> dict[str, float]:
    report = Report("bench")
    restore_rds(
        RestoreSpec(source="idp-prod-db", target=target, poll_interval=poll, region="us-east-1"),
        report,
        aws=Aws(session),
        clock=Clock(),
        simulate_permissions=False,
    )
    noticed = time.monotonic()
    steps = {s.name: s.duration_s or 0.0 for s in report.steps}
    return {
        "notice_latency_s": noticed - hook.ready_at,
        "validate_s": steps["validate"],
        "call_s": steps["restore-call"],
        "polls": float(report.steps[-1].detail.get("polls", 0)),
    }


def run_waiter(session: boto3.Session, hook: ProvisioningDelay, target: str) -> dict[str, float]:
    rds = session.client("rds", region_name="us-east-1")
    source = rds.describe_db_instances(DBInstanceIdentifier="idp-prod-db")["DBInstances"][0]
    rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="idp-prod-db",
        TargetDBInstanceIdentifier=target,
        UseLatestRestorableTime=True,
        DBSubnetGroupName=source["DBSubnetGroup"]["DBSubnetGroupName"],
    )
    rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier=target)  # default: 30 s x 60
    return {"notice_latency_s": time.monotonic() - hook.ready_at}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.rds_restore_wait", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=positive_int, default=5, help="runs of our restore")
    parser.add_argument("--waiter-runs", type=int, default=3, help="runs of the boto3 waiter baseline (0 = skip)")
    parser.add_argument("--delay-min", type=float, default=4.0)
    parser.add_argument("--delay-max", type=float, default=12.0)
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_S)
    parser.add_argument("--seed", type=int, default=7)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rng = random.Random(args.seed)
    workspace = make_workspace(prefix="bench-rds-")
    saved_env = {
        k: os.environ.get(k)
        for k in (
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "MOTO_EC2_LOAD_DEFAULT_AMIS",
        )
    }
    ours: list[dict[str, float]] = []
    waiter: list[dict[str, float]] = []
    calls_per_run: list[int] = []
    try:
        with Supervisor() as sup:
            os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
            server = S3Server.start(sup, Path(workspace))  # moto_server serves every AWS API, not just S3
            os.environ.update({**LAB_AWS_ENV, "AWS_ENDPOINT_URL": server.endpoint_url})
            hook = ProvisioningDelay()
            calls: list[str] = []
            session = _session(hook, calls)
            seed_topology(boto3.Session(), with_replica=False)
            plan = ["ours"] * args.runs
            for i in range(args.waiter_runs):
                plan.insert(min(len(plan), 2 * i + 1), "waiter")
            for i, arm in enumerate(plan):
                delay = rng.uniform(args.delay_min, args.delay_max)
                target = f"bench-{arm}-{i}"
                hook.arm(target, delay)
                calls.clear()
                if arm == "ours":
                    ours.append(run_ours(session, hook, target, args.poll_interval))
                    calls_per_run.append(len(calls))
                else:
                    waiter.append(run_waiter(session, hook, target))
                last = (ours if arm == "ours" else waiter)[-1]
                print(
                    f"  {arm:6} delay {delay:5.1f} s  noticed after +{last['notice_latency_s']:.2f} s",
                    flush=True,
                )
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        remove_tree(workspace)

    def col(rows: list[dict[str, float]], key: str) -> list[float]:
        return [r[key] for r in rows]

    results: dict[str, Any] = {
        "ours": {key: summarize(col(ours, key)) for key in ("notice_latency_s", "validate_s", "call_s")},
        "ours_polls_per_run_median": statistics.median(col(ours, "polls")),
        "ours_api_calls_per_run_median": statistics.median(calls_per_run),
        "goal_notice_under_s": 5.0,
    }
    if waiter:
        results["waiter_default"] = {"notice_latency_s": summarize(col(waiter, "notice_latency_s"))}
        results["notice_ratio_waiter_over_ours"] = round(
            results["waiter_default"]["notice_latency_s"]["median_s"] / results["ours"]["notice_latency_s"]["median_s"],
            1,
        )
    params = {
        "runs": args.runs,
        "waiter_runs": args.waiter_runs,
        "delay_s": [args.delay_min, args.delay_max],
        "poll_interval_s": args.poll_interval,
        "seed": args.seed,
        "transport": "moto_server over HTTP",
    }
    path = write_result("rds_restore_wait", params, results)
    n = results["ours"]["notice_latency_s"]
    print(
        f"ours: notice latency median {n['median_s']:.2f} s (max {n['max_s']:.2f} s, goal < 5 s); "
        f"validate {results['ours']['validate_s']['median_s']:.2f} s, "
        f"call {results['ours']['call_s']['median_s']:.2f} s, "
        f"{results['ours_api_calls_per_run_median']:.0f} API calls per restore"
    )
    if waiter:
        w = results["waiter_default"]["notice_latency_s"]
        print(
            f"boto3 waiter (30 s delay): notice latency median {w['median_s']:.2f} s "
            f"({results['notice_ratio_waiter_over_ours']}x ours)"
        )
    print(f"appended to {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
