"""The CrossGuard pack run the way the Pulumi CLI runs it: ``policy/__main__.py`` as its own process
serving the Analyzer gRPC protocol, fed the rendered example stack resource by resource
(``Analyze``) and whole (``AnalyzeStack``). The CLI itself is not on this machine; this speaks its
protocol. What the pack reports must be exactly what the rule functions (and so ``plan``) find."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import (
    analyzer_pb2,
    analyzer_pb2_grpc,
    plugin_pb2,  # noqa: F401 - registers the Empty message types
)

from policy.rules import RULES, Resource
from scripts.offline import REPO_ROOT
from scripts.plan.posture import rule_resources
from tests.policy.test_rules import CASES, EXAMPLE
from tests.unit.conftest import AUTHENTIK, run_stack


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "policy" / "__main__.py")],
        cwd=REPO_ROOT / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert port.isdigit(), proc.stderr.read() if proc.poll() is not None else port  # type: ignore[union-attr]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait()


def _struct(props) -> struct_pb2.Struct:
    return json_format.ParseDict(dict(props), struct_pb2.Struct())


def _provider(r: Resource) -> analyzer_pb2.AnalyzerProviderResource:
    return analyzer_pb2.AnalyzerProviderResource(
        type="pulumi:providers:aws" if r.region else "pulumi:providers:kubernetes",
        urn=str(r.provider),
        name=str(r.provider),
        properties=_struct({"region": r.region} if r.region else {}),
    )


def _urn(r: Resource) -> str:
    return f"urn:pulumi:prod::idp-dr::{r.type}::{r.name}"


def analyze(stub, resources: list[Resource]) -> set[tuple[str, str]]:
    """(policy, message) of every diagnostic, per resource and for the stack."""
    found = set()
    for r in resources:
        response = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=r.type, name=r.name, urn=_urn(r), properties=_struct(r.props), provider=_provider(r)
            )
        )
        found |= {(d.policyName, _message(d)) for d in response.diagnostics}
    stack = stub.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=r.type, name=r.name, urn=_urn(r), properties=_struct(r.props), provider=_provider(r)
                )
                for r in resources
            ]
        )
    )
    return found | {(d.policyName, _message(d)) for d in stack.diagnostics}


def _message(diagnostic) -> str:
    """The SDK prefixes each violation with the policy's description (one line)."""
    return diagnostic.message.split("\n", 1)[-1]


def expected(resources: list[Resource]) -> set[tuple[str, str]]:
    return {(rule.name, message) for rule in RULES for _where, message in rule.violations(resources)}


def test_the_pack_declares_every_rule_with_its_enforcement(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "idp-dr"
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {rule.name for rule in RULES}
    for rule in RULES:
        level = analyzer_pb2.MANDATORY if rule.mandatory else analyzer_pb2.ADVISORY
        assert levels[rule.name] == level, rule.name


def test_the_example_stack_passes_the_pack(analyzer):
    assert analyze(analyzer, rule_resources(run_stack(EXAMPLE))) == set()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_pack_reports_what_the_rules_find(analyzer, name):
    stack_name, breaks, _message = CASES[name]
    base = rule_resources(run_stack(EXAMPLE if stack_name == "keycloak" else {**EXAMPLE, **AUTHENTIK}))
    stack = breaks(base)
    reported = analyze(analyzer, stack)
    assert reported == expected(stack)
    assert any(policy == name for policy, _ in reported)
