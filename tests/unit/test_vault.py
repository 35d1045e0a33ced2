"""The two postures that survive a compromised production account (components.vault, components.protection),
under Pulumi's mocks: what production's principals may do to the last copy, read from the policies the program
writes. Invariants: nothing in the production account can delete from the vault or shorten its retention; the
vault's locks are COMPLIANCE; without a vault, only the break-glass role can destroy a DR key or unlock the DR
bucket; a stack with neither says so (posture ``none``).
"""

from __future__ import annotations

import json

import pytest

from components.buckets import VAULT_RULE
from components.protection import BUCKET_UNLOCKING, KEY_DESTRUCTION
from components.vault import ENCRYPT_ONLY, REPLICATION_INTO_VAULT
from tests.iam_eval import decide
from tests.unit.conftest import run_stack

PRODUCTION, VAULT_ACCOUNT = "123456789012", "210987654321"
VAULT = {"idp-dr:vault": {"accountId": VAULT_ACCOUNT, "region": "eu-west-1",
                          "roleArn": f"arn:aws:iam::{VAULT_ACCOUNT}:role/idp-dr-vault-deployer"}}  # fmt: skip
BREAK_GLASS = f"arn:aws:iam::{PRODUCTION}:role/break-glass"
GUARDED = {"idp-dr:protection": {"breakGlassRoleArn": BREAK_GLASS}}
#: What a thief with production's credentials would try on the vault's copy.
DESTRUCTIVE_S3 = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:BypassGovernanceRetention",
                  "s3:PutBucketObjectLockConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                  "s3:PutLifecycleConfiguration", "s3:DeleteBucket", "s3:PutBucketVersioning", "s3:GetObject",
                  "s3:PutObject"]  # fmt: skip


@pytest.fixture(scope="module")
def vault_run():
    return run_stack(VAULT)


@pytest.fixture(scope="module")
def guarded_run():
    return run_stack(GUARDED)


def _policy(record, key: str = "policy") -> list[dict]:
    return json.loads(record.inputs[key])["Statement"]


def _production_may(statements: list[dict], action: str, principal_arn: str, resource: str) -> bool:
    """Whether a resource policy lets a production principal do ``action`` on ``resource`` (over TLS): the
    statements naming that principal (itself, its account, or anyone), evaluated by tests.iam_eval."""

    def names(st: dict) -> list[str]:
        principal = st["Principal"]
        return (
            ["*"] if principal == "*" else [principal["AWS"]] if isinstance(principal["AWS"], str) else principal["AWS"]
        )

    mine = [st for st in statements if {"*", principal_arn, f"arn:aws:iam::{PRODUCTION}:root"} & set(names(st))]
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": principal_arn}
    return decide({"Statement": mine}, action, resource, context) == "allow"


# -- vault ---------------------------------------------------------------------------------------------------
def test_every_vault_resource_is_created_in_the_vault_account_with_its_own_role(vault_run):
    rec = vault_run.recorder
    provider = rec.by_name("sso-archive-vault-vault-provider")
    assert json.loads(provider.inputs["allowedAccountIds"]) == [VAULT_ACCOUNT]
    [assumed] = json.loads(provider.inputs["assumeRoles"])
    assert VAULT["idp-dr:vault"]["roleArn"] in assumed.values()
    in_vault = [r for r in rec.resources.values() if r.provider_name == "sso-archive-vault-vault-provider"]
    assert {r.name for r in in_vault} >= {"sso-archive-vault-bucket", "sso-archive-vault-key",
                                          "sso-archive-vault-object-lock", "sso-archive-vault-policy",
                                          "sso-vault-backups-locked", "sso-vault-backups-vault-lock"}  # fmt: skip
    accounts = {r.outputs["arn"].split(":")[4] for r in in_vault if "arn" in r.outputs} - {""}  # S3 ARNs name none
    assert accounts == {VAULT_ACCOUNT}


def test_the_vault_bucket_is_locked_in_compliance_mode_for_the_pitr_window_and_dailies(vault_run):
    rec = vault_run.recorder
    bucket = rec.by_name("sso-archive-vault-bucket")
    assert bucket.inputs["objectLockEnabled"] is True and bucket.protect is True
    assert bucket.inputs["forceDestroy"] is False
    lock = rec.by_name("sso-archive-vault-object-lock").inputs["rule"]["defaultRetention"]
    assert lock == {"mode": "COMPLIANCE", "days": 21}  # walRetentionDays: backupRetentionDays 14 + 7


def test_production_can_replicate_into_the_vault_bucket_and_do_nothing_else(vault_run):
    rec = vault_run.recorder
    statements = _policy(rec.by_name("sso-archive-vault-policy"))
    role = rec.by_name("sso-archive-buckets-replication-role").outputs["arn"]
    admin = f"arn:aws:iam::{PRODUCTION}:role/Administrator"
    bucket = rec.by_name("sso-archive-vault-bucket").outputs["arn"]
    objects = f"{bucket}/dumps/daily/keycloak/x.dump"
    for action in REPLICATION_INTO_VAULT:
        assert _production_may(statements, action, role, objects), action
    for principal in (role, admin):
        for action in DESTRUCTIVE_S3:
            for resource in (bucket, objects):
                assert not _production_may(statements, action, principal, resource), (principal, action)
    # And explicitly denied, so that an Allow added later (by a vault administrator) cannot open it to production.
    [deny] = [s for s in statements if s["Sid"] == "ProductionDoesNothingElse"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": f"arn:aws:iam::{PRODUCTION}:root"}
    assert not set(DESTRUCTIVE_S3) & set(deny["NotAction"])


def test_the_vault_key_lets_production_encrypt_and_nothing_more(vault_run):
    statements = _policy(vault_run.recorder.by_name("sso-archive-vault-key"))
    production = [s for s in statements if s["Principal"]["AWS"] == f"arn:aws:iam::{PRODUCTION}:root"]
    assert [sorted(s["Action"]) for s in production] == [sorted(ENCRYPT_ONLY)]
    assert not {"kms:Decrypt", *KEY_DESTRUCTION} & set(production[0]["Action"])
    owners = [s for s in statements if s["Principal"]["AWS"] == f"arn:aws:iam::{VAULT_ACCOUNT}:root"]
    assert owners and owners[0]["Action"] == "kms:*"


def test_every_archive_object_is_replicated_to_the_vault_and_owned_by_it(vault_run):
    rec = vault_run.recorder
    rules = {r["id"]: r for r in rec.by_name("sso-archive-buckets-replication").inputs["rules"]}
    vault = rules[VAULT_RULE]
    assert vault["filter"] == {"prefix": ""} and vault["deleteMarkerReplication"] == {"status": "Disabled"}
    dest = vault["destination"]
    assert dest["bucket"] == rec.by_name("sso-archive-vault-bucket").outputs["arn"]
    assert dest["account"] == VAULT_ACCOUNT and dest["accessControlTranslation"] == {"owner": "Destination"}
    assert dest["encryptionConfiguration"]["replicaKmsKeyId"] == rec.by_name("sso-archive-vault-key").outputs["arn"]
    policy = _policy(rec.by_name("sso-archive-buckets-replication-policy"))
    writes = next(s for s in policy if s["Sid"] == "WriteVaultObjects")
    assert sorted(writes["Action"]) == sorted(REPLICATION_INTO_VAULT)  # no s3:ReplicateDelete


def test_database_snapshots_are_copied_daily_into_a_compliance_locked_vault(vault_run):
    rec = vault_run.recorder
    locked = rec.by_name("sso-vault-backups-locked")
    lock = rec.by_name("sso-vault-backups-vault-lock").inputs
    assert lock["minRetentionDays"] == 35 and lock["changeableForDays"] == 3  # compliance mode after 3 days
    [rule] = rec.by_name("sso-vault-backups-plan").inputs["rules"]
    [copy] = rule["copyActions"]
    assert copy["destinationVaultArn"] == locked.outputs["arn"] and f":{VAULT_ACCOUNT}:" in locked.outputs["arn"]
    assert copy["lifecycle"] == {"deleteAfter": 35}
    selection = rec.by_name("sso-vault-backups-selection")
    assert selection.inputs["resources"] == [rec.by_name("sso-database-db").outputs["arn"]]
    assert selection.provider_name == "aws-primary"


def test_the_database_key_is_shared_with_the_vault_account_for_its_copies(vault_run):
    statements = _policy(vault_run.recorder.by_name("sso-database-primary-key"))
    shared = next(s for s in statements if s["Sid"] == "VaultAccountCopiesSnapshots")
    assert shared["Principal"] == {"AWS": f"arn:aws:iam::{VAULT_ACCOUNT}:root"}
    assert "kms:ScheduleKeyDeletion" not in shared["Action"] and "kms:*" not in shared["Action"]


def test_the_outputs_name_the_vault_posture(vault_run):
    protection = vault_run.outputs["protection"]
    assert protection["posture"] == "vault" and protection["vaultAccountId"] == VAULT_ACCOUNT
    assert protection["vaultBucket"] == vault_run.recorder.by_name("sso-archive-vault-bucket").outputs["bucket"]


# -- guarded keys --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["sso-archive-dr-key", "sso-database-dr-key"])
def test_without_a_vault_only_the_break_glass_role_can_destroy_a_dr_key(guarded_run, key):
    record = guarded_run.recorder.by_name(key)
    statements = _policy(record)
    deny = next(s for s in statements if s["Effect"] == "Deny")
    assert sorted(deny["Action"]) == sorted(KEY_DESTRUCTION) and deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": BREAK_GLASS}}
    assert record.inputs["bypassPolicyLockoutSafetyCheck"] is True
    assert record.protect is True


def test_without_a_vault_only_the_break_glass_role_can_unlock_the_dr_bucket(guarded_run):
    statements = _policy(guarded_run.recorder.by_name("sso-archive-buckets-dr-policy"))
    guard = next(s for s in statements if s["Sid"] == "OnlyBreakGlassUnlocks")
    assert sorted(guard["Action"]) == sorted(BUCKET_UNLOCKING) and guard["Effect"] == "Deny"
    assert guard["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": BREAK_GLASS}}
    primary = _policy(guarded_run.recorder.by_name("sso-archive-buckets-primary-policy"))
    assert not any(s.get("Sid") == "OnlyBreakGlassUnlocks" for s in primary)  # the primary copy is not the last


def test_guarded_keys_posture_is_in_the_outputs_and_the_primary_keys_keep_the_default(guarded_run):
    assert guarded_run.outputs["protection"]["posture"] == "guarded-keys"
    assert guarded_run.outputs["protection"]["breakGlassRoleArn"] == BREAK_GLASS
    for key in ("sso-archive-primary-key", "sso-database-primary-key"):
        assert guarded_run.recorder.by_name(key).inputs.get("policy") is None, key


def test_a_stack_with_neither_says_so(default_run):
    assert default_run.outputs["protection"]["posture"] == "none"
    for key in ("sso-archive-dr-key", "sso-database-dr-key"):
        assert default_run.recorder.by_name(key).inputs.get("policy") is None
    assert not any("vault" in r.name for r in default_run.recorder.resources.values())
