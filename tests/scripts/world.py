"""Fixtures for the RDS runbook tests: moto in-process, a recorder of every AWS call, fault
injection, a seeded production-like topology and stand-in IdP sites.

moto 5.2 is patched with :mod:`scripts.sandbox.motofix` (two documented deviations from AWS:
promotion leaves the replica flag set; explicit ``False`` restore overrides are ignored).
Where moto has no behaviour at all (time semantics, failing health checks, failed restores,
replicated-backup restores, backup replication) tests inject AWS-shaped responses, and say so.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from scripts import cli
from scripts.aws import client as aws_module
from scripts.aws.client import Aws, is_mutating
from scripts.errors import DrError, ExitCode
from scripts.polling import FakeClock
from scripts.report import Report
from scripts.sandbox import motofix
from scripts.sandbox.sites import FakeIdpSite
from scripts.sandbox.topology import SiteHosts, seed_topology

#: One loader for every test session: service models are parsed once (seconds per test otherwise).
_LOADER = botocore.loaders.create_loader()


def fresh_session() -> boto3.Session:
    """A new boto3 session (own event handlers, own clients) sharing the parsed service models."""
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core)


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]


class Recorder:
    """Records every API call (with its original keyword arguments) made through a session."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["api_params"] = dict(params)
        self.calls.append(Call(model.service_model.service_name, model.name, dict(params)))

    @property
    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]

    def mutating(self) -> list[str]:
        """Mutating calls on the topology: the runbook's own lock and state objects (in the DR bucket,
        under idp-dr/runbook/) are not production and are listed by :meth:`runbook_writes` instead."""
        return [f"{c.service}:{c.operation}" for c in self.calls if is_mutating(c.operation) and not _runbook_object(c)]

    def runbook_writes(self) -> list[str]:
        return [
            f"{c.operation} {c.params['Key']}" for c in self.calls if is_mutating(c.operation) and _runbook_object(c)
        ]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.operation == operation]


def _runbook_object(call: Call) -> bool:
    return call.service == "s3" and str(call.params.get("Key", "")).startswith(RUNBOOK_PREFIX)


RUNBOOK_PREFIX = "idp-dr/runbook/"

Rule = Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass
class Faults:
    """Answer chosen calls with AWS-shaped responses instead of moto (``before-call`` short-circuit).

    A rule gets the call's keyword arguments and returns None (let moto answer), a parsed
    response dict, or ``error(code, message, status)``.
    """

    rules: list[tuple[str, Rule]] = field(default_factory=list)

    def add(self, operation: str, rule: Rule) -> None:
        self.rules.append((operation, rule))

    def clear(self) -> None:
        self.rules.clear()

    def __call__(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict] | None:
        for operation, rule in self.rules:
            if operation != model.name:
                continue
            parsed = rule(context.get("api_params", {}))
            if parsed is None:
                continue
            status = parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
            return AWSResponse("https://injected.invalid", status, {}, None), parsed
        return None


def error(code: str, message: str, status: int = 400) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


def throttle_first(n: int, operation_filter: Callable[[dict[str, Any]], bool] = lambda p: True) -> Rule:
    """Throttle the first ``n`` matching calls, then let them through."""
    left = {"n": n}

    def rule(params: dict[str, Any]) -> dict[str, Any] | None:
        if left["n"] > 0 and operation_filter(params):
            left["n"] -= 1
            return error("Throttling", "Rate exceeded")
        return None

    return rule


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # 0.5 s per region, and we need no AMIs
    monkeypatch.chdir(tmp_path)  # failover's default state dir is relative


@dataclass
class AwsWorld:
    session: boto3.Session
    recorder: Recorder
    faults: Faults
    clock: FakeClock
    outputs: dict[str, Any]
    outputs_path: Path

    def aws(self, **kwargs: Any) -> Aws:
        return Aws(self.session, sleep=self.clock.sleep, **kwargs)

    def incident_state(self) -> dict[str, Any]:
        """The failover incident's journal the runbook keeps in the DR bucket (its default store)."""
        body = self.client("s3", self.outputs["drRegion"]).get_object(
            Bucket=self.outputs["archive"]["drBucket"], Key=f"{RUNBOOK_PREFIX}sso.example.com/state.json"
        )["Body"]
        return json.loads(body.read())

    def incident(self) -> dict[str, Any]:
        """What the failover decided (the journal's typed facts, ``pinned.incident``)."""
        return self.incident_state()["pinned"]["incident"]

    def client(self, service: str, region: str = "eu-west-1") -> Any:
        """A client for test setup and assertions: its calls are not recorded as the command's."""
        return fresh_session().client(service, region_name=region)


@pytest.fixture
def moto_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[boto3.Session, Recorder, Faults]]:
    motofix.apply()
    with mock_aws():
        session = fresh_session()
        recorder, faults = Recorder(), Faults()
        session.events.register("before-parameter-build", recorder.on_params)
        session.events.register("before-call", faults)
        monkeypatch.setattr(aws_module, "default_session", lambda: session)
        yield session, recorder, faults


@pytest.fixture
def sites() -> Iterator[tuple[FakeIdpSite, FakeIdpSite]]:
    primary = FakeIdpSite(health_path="/", issuer="https://placeholder/", ready=False)
    dr = FakeIdpSite(health_path="/", issuer="https://placeholder/", ready=True)
    with primary, dr:
        yield primary, dr


@pytest.fixture
def world(
    moto_session: tuple[boto3.Session, Recorder, Faults],
    sites: tuple[FakeIdpSite, FakeIdpSite],
    tmp_path: Path,
) -> AwsWorld:
    session, recorder, faults = moto_session
    primary, dr = sites
    # Seed with a separate session so seeding calls are not recorded as the command's.
    outputs = seed_topology(fresh_session(), hosts=SiteHosts(primary=primary.hostport, dr=dr.hostport))
    for site in (primary, dr):
        site.configure(health_path=outputs["dns"]["healthPath"], issuer=outputs["issuer"])
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs, indent=2))
    return AwsWorld(session, recorder, faults, FakeClock(), outputs, path)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str
    report: Report | None

    @property
    def error_line(self) -> str:
        return next((line[len("error: ") :] for line in self.stderr.splitlines() if line.startswith("error: ")), "")

    @property
    def hint_line(self) -> str:
        return next((line[len("hint: ") :] for line in self.stderr.splitlines() if line.startswith("hint: ")), "")

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def invoke(argv: list[str], **inject: Any) -> CliResult:
    """``scripts.cli.main`` with dependencies injected into the command's handler."""
    out, err = io.StringIO(), io.StringIO()
    parser = cli.build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return CliResult(int(exc.code or 0), out.getvalue(), err.getvalue(), None)
    report = Report(cli._command_name(args))
    try:
        args.handler(args, report, **inject)
        code = ExitCode.OK if report.ok else ExitCode.CHECK_FAILED
    except DrError as exc:
        report.error = exc
        code = exc.exit_code
    except KeyboardInterrupt:
        report.error = DrError("interrupted; started processes were stopped")
        code = ExitCode.INTERRUPTED
    cli._emit(report, args, out, err)
    return CliResult(int(code), out.getvalue(), err.getvalue(), report)
