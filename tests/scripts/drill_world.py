"""The ``drill --aws`` world shared by the tests that drill: the fake DR cluster, a fake Keycloak as the drill IdP,
production's baseline published and the verifier's secret, and the simulated replicated backups.

moto has no replicated automated backups: :func:`scripts.sandbox.motofix.apply_replicated_backups` answers them
as AWS does (SIMULATED; no data moves), and is removed after each test.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from contract.outputs import StackOutputs
from scripts.k8s.adapter import FakeKube
from scripts.sandbox import motofix
from scripts.sandbox.command import seed_kube
from scripts.verify import BaselineParams, ClientCredentials, Target, capture_baseline
from scripts.verify.baseline_store import publish
from tests.fakes.keycloak import FakeKeycloak, generate_keys
from tests.scripts.world import fresh_session, invoke

DRILL_NS = "identity-drill"
#: Every step of a drill that passes, in order.
DRILL_STEPS = ("preflight", "leftovers", "restore", "start", "verify", "measure", "metrics", "cleanup", "record")
VERIFIER = "keycloak/dr-verifier"


class RecordingKube(FakeKube):
    """The fake DR cluster, keeping every manifest applied (the cleanup deletes them from the state)."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.applied: list[dict[str, Any]] = []
        self.fail_on: tuple[str, BaseException] | None = None

    def apply(self, manifest: dict[str, Any]) -> None:
        if self.fail_on and manifest["kind"] == self.fail_on[0]:
            raise self.fail_on[1]
        self.applied.append(json.loads(json.dumps(manifest)))
        super().apply(manifest)


@pytest.fixture
def replicated_backups():
    undo = motofix.apply_replicated_backups()
    yield
    undo()


@pytest.fixture
def idp(world):
    site = FakeKeycloak(keys=generate_keys(2), realm="company", public_url=f"https://{world.outputs['publicHostname']}")
    with site:
        yield site


@pytest.fixture
def cluster(world, idp):
    kube = RecordingKube(ready_after=1)
    seed_kube(kube, world.outputs, fresh_session())
    kube.state["service_urls"][f"{DRILL_NS}/idp-dr-drill"] = idp.hostport
    return kube


@pytest.fixture
def drill(world, idp, cluster, replicated_backups, tmp_path):
    """Production's baseline in the DR bucket and the verifier client's secret, as the stack keeps them."""
    client = ClientCredentials(idp.client_id, idp.client_secret)
    target = Target(idp="keycloak", base_url=idp.url, realm="company", mgmt_url=idp.url)
    baseline = capture_baseline(BaselineParams(target, client))
    outputs = StackOutputs.model_validate(world.outputs)
    publish(baseline, outputs, world.aws(), now=datetime(2026, 11, 30, 3, 41, tzinfo=UTC))
    world.client("secretsmanager", "eu-central-1").create_secret(
        Name=VERIFIER,
        SecretString=json.dumps({"client_id": client.client_id, "client_secret": client.client_secret,
                                 "realm": "company"}),
    )  # fmt: skip
    world.recorder.calls.clear()

    def run(*extra: str, kube: Any = None) -> Any:
        argv = ["drill", "--aws", "--stack-outputs", str(world.outputs_path), "--verifier-secret", VERIFIER,
                "--report-dir", str(tmp_path / "reports"), "--metric-namespace", "IdpDr/Drills",
                "--metric-stack", "prod", "--json", *extra]  # fmt: skip
        return invoke(argv, aws=world.aws(), kube=kube or cluster, clock=world.clock)

    return run
