"""The DR keys' deletion or disabling reaches the DR topic within minutes: an EventBridge rule on the CloudTrail
events, and the DR topic (and its key) letting exactly the stack's rules publish. Evaluated, not read."""

from __future__ import annotations

import json

import pytest

from components.dr_key_watch import key_change_pattern
from tests.iam_eval import decide
from tests.unit.conftest import run_stack


@pytest.fixture(scope="module")
def run():
    return run_stack()


def _matches(pattern: dict, event: dict) -> bool:
    """EventBridge's matching for the operators this pattern uses: each field's value (or one element of an
    array, also through arrays of objects) is one of the listed values; every field of the pattern matches."""
    for key, wanted in pattern.items():
        value = event.get(key)
        if isinstance(wanted, dict):
            items = value if isinstance(value, list) else [value]
            if not any(isinstance(item, dict) and _matches(wanted, item) for item in items):
                return False
        else:
            values = value if isinstance(value, list) else [value]
            if not set(values) & set(wanted):
                return False
    return True


def _cloudtrail(event_name: str, key_arn: str) -> dict:
    """The shape of a KMS management event as EventBridge delivers it (CloudTrail record in ``detail``)."""
    return {
        "source": "aws.kms",
        "detail-type": "AWS API Call via CloudTrail",
        "region": "eu-central-1",
        "detail": {
            "eventSource": "kms.amazonaws.com",
            "eventName": event_name,
            "requestParameters": {"keyId": key_arn.rsplit("/", 1)[1], "pendingWindowInDays": 7},
            "resources": [{"accountId": "123456789012", "type": "AWS::KMS::Key", "ARN": key_arn}],
        },
    }


def test_the_rule_matches_deleting_or_disabling_a_dr_key_and_nothing_else(run):
    rule = run.recorder.by_name("sso-dr-keys-rule")
    assert rule.region == "eu-central-1"
    pattern = json.loads(rule.inputs["eventPattern"])
    keys = pattern["detail"]["resources"]["ARN"]
    assert sorted(keys) == sorted({run.outputs["database"]["drKmsKeyArn"], run.outputs["archive"]["drKmsKeyArn"]})
    for key in keys:
        assert _matches(pattern, _cloudtrail("ScheduleKeyDeletion", key))
        assert _matches(pattern, _cloudtrail("DisableKey", key))
        assert not _matches(pattern, _cloudtrail("EnableKey", key))
        assert not _matches(pattern, _cloudtrail("CancelKeyDeletion", key))
    other = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    assert not _matches(pattern, _cloudtrail("ScheduleKeyDeletion", other))
    assert pattern == key_change_pattern(keys)


def test_its_target_is_the_dr_topic(run):
    [target] = run.recorder.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert target.inputs["rule"] == "sso-dr-key-changes"
    assert target.inputs["arn"] == run.recorder.by_name("sso-alarms-dr").outputs["arn"]


def test_the_dr_topic_lets_only_this_stacks_rules_publish_and_the_account_manage_it(run):
    topic = run.recorder.by_name("sso-alarms-dr").outputs["arn"]
    policy = json.loads(run.recorder.by_name("sso-alarms-dr-topic-policy").inputs["policy"])
    ours = {"aws:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/sso-dr-key-changes"}
    theirs = {"aws:SourceArn": "arn:aws:events:eu-central-1:999999999999:rule/sso-dr-key-changes"}
    other_stack = {"aws:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/staging-dr-key-changes"}
    statements = {s["Sid"]: s for s in policy["Statement"]}
    events = {"Version": "2012-10-17", "Statement": [statements["StackEventRulesPublish"]]}
    assert decide(events, "sns:Publish", topic, ours) == "allow"
    assert decide(events, "sns:Publish", topic, theirs) == "implicit-deny"
    assert decide(events, "sns:Publish", topic, other_stack) == "implicit-deny"
    assert decide(events, "sns:Subscribe", topic, ours) == "implicit-deny"
    assert statements["AccountUsesTheTopic"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    alarms = {"Version": "2012-10-17", "Statement": [statements["CloudWatchAlarmsPublish"]]}
    alarm = {
        "aws:SourceAccount": "123456789012",
        "aws:SourceArn": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:x",
    }
    assert decide(alarms, "sns:Publish", topic, alarm) == "allow"
    assert decide(alarms, "sns:Publish", topic, {**alarm, "aws:SourceAccount": "999999999999"}) == "implicit-deny"


def test_the_dr_topics_key_lets_the_rules_encrypt_and_no_other_topic_grants_eventbridge(run):
    policy = json.loads(run.recorder.by_name("sso-alarms-dr-key-policy").inputs["policy"])
    [events] = [s for s in policy["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}]
    doc = {"Version": "2012-10-17", "Statement": [events]}
    rule = {"aws:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/sso-dr-key-changes"}
    assert decide(doc, "kms:GenerateDataKey", "*", rule) == "allow"
    assert decide(doc, "kms:Decrypt", "*", rule) == "allow"
    assert decide(doc, "kms:ScheduleKeyDeletion", "*", rule) == "implicit-deny"
    for site in ("primary", "global"):
        other = json.loads(run.recorder.by_name(f"sso-alarms-{site}-key-policy").inputs["policy"])
        assert not [s for s in other["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}]
    topic_policies = [p.name for p in run.recorder.of_type("aws:sns/topicPolicy:TopicPolicy")]
    assert topic_policies == ["sso-alarms-dr-topic-policy"]


def test_plan_lists_the_rule_with_its_events_and_topic_region(run):
    from scripts.plan.posture import _alarms

    assert "sso-dr-keys-rule: EventBridge aws.kms ScheduleKeyDeletion|DisableKey -> eu-central-1" in _alarms(run)
