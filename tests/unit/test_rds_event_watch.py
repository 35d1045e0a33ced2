"""The DR read replica's replication breaking reaches the DR topic within minutes: an EventBridge rule on that
instance's RDS events (IDs from AWS's "Amazon RDS event categories and event messages"). Evaluated, not read."""

from __future__ import annotations

import json

import pytest

from components.rds_event_watch import REPLICA_EVENTS, replica_event_pattern
from tests.unit.conftest import run_stack
from tests.unit.test_dr_key_watch import _matches

REPLICA = {"idp-dr:database": {"drReadReplica": True}}


@pytest.fixture(scope="module")
def run():
    return run_stack(REPLICA)


def _rds_event(event_id: str, source: str) -> dict:
    """An RDS DB-instance event as EventBridge delivers it (the event's fields in ``detail``)."""
    return {
        "source": "aws.rds",
        "detail-type": "RDS DB Instance Event",
        "region": "eu-central-1",
        "detail": {"EventCategories": ["read replica"], "SourceType": "DB_INSTANCE", "SourceIdentifier": source,
                   "EventID": event_id, "Message": "Replication for the Read Replica terminated."},
    }  # fmt: skip


def test_the_rule_matches_the_replicas_replication_events_and_nothing_else(run):
    rule = run.recorder.by_name("sso-dr-replica-events-rule")
    assert rule.region == "eu-central-1" and rule.inputs["name"] == "sso-dr-replica-events"
    pattern = json.loads(rule.inputs["eventPattern"])
    replica = run.outputs["database"]["drReplicaInstanceId"]
    assert pattern == replica_event_pattern([replica])
    for event_id in REPLICA_EVENTS:
        assert _matches(pattern, _rds_event(event_id, replica))
        assert not _matches(pattern, _rds_event(event_id, "another-instance"))
    assert not _matches(pattern, _rds_event("RDS-EVENT-0046", replica))  # replication resumed: not an alarm


def test_its_target_is_the_dr_topic_which_lets_the_stacks_rules_publish(run):
    target = next(t for t in run.recorder.of_type("aws:cloudwatch/eventTarget:EventTarget")
                  if t.inputs["rule"] == "sso-dr-replica-events")  # fmt: skip
    assert target.inputs["arn"] == run.recorder.by_name("sso-alarms-dr").outputs["arn"]
    policy = json.loads(run.recorder.by_name("sso-alarms-dr-topic-policy").inputs["policy"])
    [publish] = [s for s in policy["Statement"] if s["Sid"] == "StackEventRulesPublish"]
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":rule/sso-*")


def test_no_rule_without_a_dr_replica(default_run):
    names = [r.inputs["name"] for r in default_run.recorder.of_type("aws:cloudwatch/eventRule:EventRule")]
    assert names == ["sso-dr-key-changes"]


def test_plan_lists_the_rule_with_its_event_ids_and_topic_region(run):
    from scripts.plan.posture import _alarms

    assert (
        "sso-dr-replica-events-rule: EventBridge aws.rds RDS-EVENT-0045|RDS-EVENT-0057|RDS-EVENT-0062|RDS-EVENT-0202 "
        "-> eu-central-1"
    ) in _alarms(run)
