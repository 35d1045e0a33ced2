"""WalArchive / ReplicatedBuckets invariants."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.conftest import run_stack

BUCKET = "aws:s3/bucket:Bucket"


def archive_buckets(run):
    return [run.recorder.by_name("sso-archive-buckets-primary"), run.recorder.by_name("sso-archive-buckets-dr")]


def test_one_archive_bucket_per_region_with_explicit_providers(default_run):
    primary, dr = archive_buckets(default_run)
    assert (primary.provider_name, primary.region) == ("aws-primary", "eu-west-1")
    assert (dr.provider_name, dr.region) == ("aws-dr", "eu-central-1")


def test_archive_buckets_are_protected_and_never_force_destroyed(default_run):
    for bucket in archive_buckets(default_run):
        assert bucket.protect is True, bucket.name
        assert bucket.inputs["forceDestroy"] is False, bucket.name


def test_both_buckets_versioned(default_run):
    versioning = {r.name: r.inputs for r in default_run.recorder.of_type("aws:s3/bucketVersioning:BucketVersioning")}
    for bucket in archive_buckets(default_run):
        assert versioning[f"{bucket.name}-versioning"]["versioningConfiguration"] == {"status": "Enabled"}


def test_both_buckets_encrypted_with_their_regions_cmk_and_bucket_keys(default_run):
    keys = {
        "eu-west-1": default_run.recorder.by_name("sso-archive-primary-key").outputs["arn"],
        "eu-central-1": default_run.recorder.by_name("sso-archive-dr-key").outputs["arn"],
    }
    for bucket in archive_buckets(default_run):
        sse = default_run.recorder.by_name(f"{bucket.name}-encryption")
        [rule] = sse.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": keys[bucket.region],
        }
        assert rule["bucketKeyEnabled"] is True
        assert sse.region == bucket.region


def test_both_buckets_block_all_public_access_and_enforce_owner(default_run):
    for bucket in archive_buckets(default_run):
        block = default_run.recorder.by_name(f"{bucket.name}-public-access-block").inputs
        assert all(
            block[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        ownership = default_run.recorder.by_name(f"{bucket.name}-ownership").inputs
        assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators these policies use (all operators ANDed)."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            present = key in context
            if operator == "Null":
                holds = present != (expected == "true")
            elif operator == "StringNotEquals":  # negated: true when the key is absent
                holds = not present or context[key] != expected
            elif operator == "Bool":
                holds = present and context[key] == expected
            else:
                raise AssertionError(f"unsupported operator {operator}")
            if not holds:
                return False
    return True


def _denied_puts(run, bucket, context: dict[str, str]) -> list[str]:
    policy = json.loads(run.recorder.by_name(f"{bucket.name}-policy").inputs["policy"])
    return [
        s["Sid"]
        for s in policy["Statement"]
        if s["Effect"] == "Deny"
        and s["Action"] in ("s3:PutObject", "s3:*")
        and _condition_holds(s.get("Condition", {}), context)
    ]


def test_bucket_policies_deny_plain_http_and_uploads_requesting_other_encryption(default_run):
    for bucket in archive_buckets(default_run):
        assert _denied_puts(
            default_run, bucket, {"aws:SecureTransport": "false", "s3:x-amz-server-side-encryption": "aws:kms"}
        ) == ["DenyInsecureTransport"]
        assert _denied_puts(
            default_run, bucket, {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "AES256"}
        ) == ["DenyUploadsRequestingOtherEncryption"]
        assert (
            _denied_puts(
                default_run, bucket, {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"}
            )
            == []
        )


def test_bucket_policies_allow_puts_without_the_encryption_header(default_run):
    # UploadPart is authorised as s3:PutObject and never carries the header: a Deny on a
    # missing header would refuse every multipart upload. The bucket default (SSE-KMS) applies.
    for bucket in archive_buckets(default_run):
        assert _denied_puts(default_run, bucket, {"aws:SecureTransport": "true"}) == []


def test_wal_and_base_backups_kept_at_least_the_pitr_window(default_run):
    for bucket in archive_buckets(default_run):
        rules = {r["id"]: r for r in default_run.recorder.by_name(f"{bucket.name}-lifecycle").inputs["rules"]}
        wal = rules["wal-and-base-backups"]
        assert wal["filter"] == {"prefix": "pg/"}
        assert wal["expiration"]["days"] >= 14  # database.backupRetentionDays


def test_logical_dumps_expire_in_the_keycloak_guide_tiers(default_run):
    rules = {r["id"]: r for r in default_run.recorder.by_name("sso-archive-buckets-primary-lifecycle").inputs["rules"]}
    assert {
        tier: (rules[f"dumps-{tier}"]["filter"]["prefix"], rules[f"dumps-{tier}"]["expiration"]["days"])
        for tier in ("daily", "weekly", "monthly")
    } == {"daily": ("dumps/daily/", 14), "weekly": ("dumps/weekly/", 90), "monthly": ("dumps/monthly/", 365)}


def test_incomplete_multipart_uploads_aborted_and_noncurrent_versions_expire(default_run):
    for bucket in archive_buckets(default_run):
        rules = {r["id"]: r for r in default_run.recorder.by_name(f"{bucket.name}-lifecycle").inputs["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {
            "daysAfterInitiation": 7
        }
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}


def test_replication_to_dr_with_rtc_metrics_dr_key_and_no_delete_markers(default_run):
    config = default_run.recorder.by_name("sso-archive-buckets-replication")
    [rule] = config.inputs["rules"]
    dest = rule["destination"]
    assert rule["status"] == "Enabled"
    assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert dest["bucket"] == default_run.recorder.by_name("sso-archive-buckets-dr").outputs["arn"]
    assert dest["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert dest["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}
    assert (
        dest["encryptionConfiguration"]["replicaKmsKeyId"]
        == default_run.recorder.by_name("sso-archive-dr-key").outputs["arn"]
    )
    assert config.inputs["bucket"] == default_run.recorder.by_name("sso-archive-buckets-primary").outputs["bucket"]
    assert config.provider_name == "aws-primary"


def test_replication_role_is_least_privilege(default_run):
    role = default_run.recorder.by_name("sso-archive-buckets-replication-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    policy = json.loads(default_run.recorder.by_name("sso-archive-buckets-replication-policy").inputs["policy"])
    src = default_run.recorder.by_name("sso-archive-buckets-primary").outputs["arn"]
    dst = default_run.recorder.by_name("sso-archive-buckets-dr").outputs["arn"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadSourceObjects"]["Resource"] == f"{src}/*"
    assert by_sid["WriteDestinationObjects"]["Resource"] == f"{dst}/*"
    # Delete markers are not replicated (a deletion in the primary must never reach the DR copy): no ReplicateDelete.
    assert by_sid["WriteDestinationObjects"]["Action"] == ["s3:ReplicateObject", "s3:ReplicateTags"]
    assert by_sid["DecryptSource"]["Condition"]["StringLike"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert by_sid["EncryptDestination"]["Condition"]["StringLike"]["kms:ViaService"] == "s3.eu-central-1.amazonaws.com"


def _read_source_actions(run) -> list[str]:
    policy = json.loads(run.recorder.by_name("sso-archive-buckets-replication-policy").inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}["ReadSourceObjects"]["Action"]


def test_replication_role_reads_retention_and_legal_hold_with_object_lock():
    run = run_stack({"idp-dr:archive": {"objectLock": {"enabled": True, "mode": "COMPLIANCE", "days": 30}}})
    assert {"s3:GetObjectRetention", "s3:GetObjectLegalHold"} <= set(_read_source_actions(run))


NO_LOCKS = {"idp-dr:archive": {"drObjectLock": {"enabled": False}}}


def test_replication_role_has_no_object_lock_reads_without_object_lock():
    unlocked = run_stack(NO_LOCKS)  # the DR copy's lock (on by default) opted out
    assert not {"s3:GetObjectRetention", "s3:GetObjectLegalHold"} & set(_read_source_actions(unlocked))


def test_replication_reads_retention_for_the_locked_dr_copy(default_run):
    assert {"s3:GetObjectRetention", "s3:GetObjectLegalHold"} <= set(_read_source_actions(default_run))


#: Actions that have no resource type (AWS Service Authorization Reference): "*" is the only Resource they take.
#: PutMetricData is scoped by its namespace condition instead.
NO_RESOURCE_TYPE = {
    "ec2:DescribeSecurityGroups",
    "rds:DescribeEvents",
    "s3:ListAllMyBuckets",
    "cloudwatch:PutMetricData",
}
WITH_RUNBOOK_JOBS = {"idp-dr:runbook": {"image": "ghcr.io/example/idp-dr:0.1.0"}}


@pytest.mark.parametrize("overrides", [{}, WITH_RUNBOOK_JOBS], ids=["default", "runbook-jobs"])
def test_no_iam_policy_grants_wildcard_actions_or_resources(overrides):
    run = run_stack(overrides)
    docs = [json.loads(r.inputs["policy"]) for r in run.recorder.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert docs, "expected IAM role policies"
    for doc in docs:
        for statement in doc["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), statement
            if "*" in resources:
                assert set(actions) <= NO_RESOURCE_TYPE, statement
            if "cloudwatch:PutMetricData" in actions:
                assert "cloudwatch:namespace" in statement["Condition"]["StringEquals"], statement


WRITER = {"idp-dr:archive": {"writer": {"namespace": "identity", "name": "db-backup"}}}


def _trust_subjects(run, role: str) -> list[tuple[str, str]]:
    trust = json.loads(run.recorder.by_name(role).inputs["assumeRolePolicy"])
    return sorted(next(iter(s["Condition"]["StringEquals"].items())) for s in trust["Statement"])


def _statements(run, policy: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(run.recorder.by_name(policy).inputs["policy"])["Statement"]}


def test_each_site_has_its_own_writer_role_trusted_by_its_cluster_alone():
    run = run_stack(WRITER)
    assert _trust_subjects(run, "sso-archive-writer-role") == [
        ("oidc.eks.eu-west-1.amazonaws.com/id/AAA:sub", "system:serviceaccount:identity:db-backup")
    ]
    assert _trust_subjects(run, "sso-archive-dr-writer-role") == [
        ("oidc.eks.eu-central-1.amazonaws.com/id/BBB:sub", "system:serviceaccount:identity:db-backup")
    ]


def test_the_primary_writer_writes_only_the_primary_bucket_with_the_primary_key():
    run = run_stack(WRITER)
    statements = _statements(run, "sso-archive-writer-policy")
    objects = statements["ReadWriteArchiveObjects"]["Resource"]
    assert objects and all(arn.startswith("arn:aws:s3:::sso-archive-buckets-primary") for arn in objects), objects
    assert all(arn.endswith(("/pg/*", "/dumps/*")) for arn in objects)
    key = statements["UseArchiveKey"]
    assert ":eu-west-1:" in key["Resource"]
    assert key["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_the_dr_writer_never_deletes_and_never_writes_the_replicated_copy():
    run = run_stack(WRITER)
    statements = _statements(run, "sso-archive-dr-writer-policy")
    allowed = [a for s in statements.values() if s["Effect"] == "Allow" for a in _list(s["Action"])]
    assert not [a for a in allowed if "Delete" in a], allowed
    deny = statements["NeverWriteTheReplicatedCopy"]
    assert deny["Effect"] == "Deny" and "s3:PutObject" in deny["Action"]
    assert any(arn.endswith("/pg/sso/*") for arn in deny["Resource"]), deny["Resource"]
    assert all(arn.startswith("arn:aws:s3:::sso-archive-buckets-dr") for arn in deny["Resource"])
    assert ":eu-central-1:" in statements["UseArchiveKey"]["Resource"]


def _list(value):
    return value if isinstance(value, list) else [value]


def test_no_writer_role_unless_a_writer_is_configured(default_run):
    assert not [r for r in default_run.recorder.of_type("aws:iam/role:Role") if "writer" in r.name]


def test_object_lock_is_optional_and_set_on_both_buckets():
    run = run_stack({"idp-dr:archive": {"objectLock": {"enabled": True, "mode": "COMPLIANCE", "days": 30}}})
    locks = run.recorder.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert sorted(lock.region for lock in locks) == ["eu-central-1", "eu-west-1"]
    assert all(lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 30}} for lock in locks)
    assert all(b.inputs["objectLockEnabled"] is True for b in run.recorder.of_type(BUCKET))


def test_only_the_dr_copy_is_locked_by_default_for_the_pitr_window(default_run):
    locks = default_run.recorder.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert [(lock.region, lock.inputs["rule"]) for lock in locks] == [
        ("eu-central-1", {"defaultRetention": {"mode": "GOVERNANCE", "days": 14}})
    ]
    locked = {b.region: b.inputs["objectLockEnabled"] for b in default_run.recorder.of_type(BUCKET)}
    assert locked == {"eu-west-1": False, "eu-central-1": True}


def test_the_dr_copy_lock_can_be_opted_out():
    run = run_stack(NO_LOCKS)
    assert run.recorder.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []


def test_bucket_policies_refuse_uploads_naming_a_foreign_kms_key(default_run):
    for bucket in default_run.recorder.of_type(BUCKET):
        policy = default_run.recorder.by_name(f"{bucket.name}-policy")
        statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
        deny = statements["DenyUploadsWithAForeignKey"]
        key = deny["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
        assert key.startswith(f"arn:aws:kms:{bucket.region}:"), key  # the bucket's own region's key
        assert deny["Condition"]["Null"] == {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"}


def test_only_s3_replicating_the_source_bucket_may_assume_the_replication_role(default_run):
    [role] = [r for r in default_run.recorder.of_type("aws:iam/role:Role") if r.name.endswith("-replication-role")
              and r.name.startswith("sso-archive")]  # fmt: skip
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    primary = next(b for b in default_run.recorder.of_type(BUCKET) if b.region == "eu-west-1")
    assert source == primary.outputs["arn"]
    # ... and only in this account: bucket ARNs carry no account, so the key's ARN supplies it.
    account = statement["Condition"]["StringEquals"]["aws:SourceAccount"]
    assert re.fullmatch(r"\d{12}", account), account
    assert default_run.recorder.calls == []  # learned without a data-source call


def test_replication_falling_behind_or_failing_alarms_to_the_primary_topic(default_run):
    """S3 publishes the RTC metrics in the source region, per source bucket, destination bucket and rule."""
    rec = default_run.recorder
    topic = rec.by_name("sso-alarms-primary").outputs["arn"]
    primary, dr = archive_buckets(default_run)
    [rule] = rec.by_name("sso-archive-buckets-replication").inputs["rules"]
    expected = {
        "sso-archive-buckets-replication-latency": ("ReplicationLatency", "Maximum", 900),
        "sso-archive-buckets-replication-failed": ("OperationsFailedReplication", "Sum", 0),
    }
    for name, (metric, statistic, threshold) in expected.items():
        alarm = rec.by_name(name)
        assert alarm.region == "eu-west-1", name
        assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/S3", metric)
        assert (alarm.inputs["statistic"], alarm.inputs["threshold"]) == (statistic, threshold)
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
        assert alarm.inputs["dimensions"] == {
            "SourceBucket": primary.outputs["bucket"],
            "DestinationBucket": dr.outputs["bucket"],
            "RuleId": rule["id"],
        }
        assert alarm.inputs["alarmActions"] == [topic] and alarm.inputs["okActions"] == [topic]
        assert alarm.inputs["treatMissingData"] == "notBreaching"  # an idle archive is not a broken one
    assert 900 == 60 * rule["destination"]["replicationTime"]["time"]["minutes"]  # the RTC threshold itself


def test_the_media_buckets_alarm_on_replication_too(authentik_run):
    names = {r.name for r in authentik_run.recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {"sso-media-replication-latency", "sso-media-replication-failed"} <= names
