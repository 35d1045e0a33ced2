"""Notifications invariants: alarm topics CloudWatch can actually publish to."""

from __future__ import annotations

import json

TOPIC = "aws:sns/topic:Topic"
SITES = {"primary": "eu-west-1", "dr": "eu-central-1", "global": "us-east-1"}


def test_one_alarm_topic_per_region(default_run):
    topics = {t.name: t.region for t in default_run.recorder.of_type(TOPIC)}
    assert topics == {f"sso-alarms-{site}": region for site, region in SITES.items()}


def test_alarm_topics_use_a_customer_managed_key_in_their_region(default_run):
    # CloudWatch cannot use the AWS-managed alias/aws/sns key: alarms to such a topic are dropped.
    rec = default_run.recorder
    for site, region in SITES.items():
        topic = rec.by_name(f"sso-alarms-{site}")
        key = rec.by_name(f"sso-alarms-{site}-key")
        assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
        assert (key.region, key.protect, key.inputs["enableKeyRotation"]) == (region, True, True)


def test_alarm_topic_key_policy_admits_the_account_and_cloudwatch(default_run):
    rec = default_run.recorder
    for site, region in SITES.items():
        key = rec.by_name(f"sso-alarms-{site}-key")
        key_policy = rec.by_name(f"sso-alarms-{site}-key-policy")
        assert (key_policy.inputs["keyId"], key_policy.region) == (key.outputs["keyId"], region)
        assert not key_policy.inputs.get("bypassPolicyLockoutSafetyCheck")
        account = key.outputs["arn"].split(":")[4]
        by_sid = {s["Sid"]: s for s in json.loads(key_policy.inputs["policy"])["Statement"]}
        assert by_sid["EnableIamPolicies"]["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
        assert by_sid["EnableIamPolicies"]["Action"] == "kms:*"
        cloudwatch = by_sid["CloudWatchAlarmsPublish"]
        assert (cloudwatch["Effect"], cloudwatch["Principal"]) == ("Allow", {"Service": "cloudwatch.amazonaws.com"})
        assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        # Only this account's alarms may use it (confused deputy).
        assert cloudwatch["Condition"] == {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{account}:alarm:*"},
        }


def test_every_alarm_notifies_a_topic_whose_key_cloudwatch_may_use(default_run, warm_run):
    for run in (default_run, warm_run):
        rec = run.recorder
        usable = {rec.by_name(f"sso-alarms-{site}").outputs["arn"] for site in SITES}
        alarms = rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        assert alarms
        for alarm in alarms:
            assert set(alarm.inputs["alarmActions"]) <= usable, alarm.name
