"""Every refused setting: the exact message, and nothing registered.

Messages name the key, the bad value and what is allowed. The end-to-end
test runs the whole program with each bad config and asserts the mock engine
recorded zero resources (not even a provider).
"""

from __future__ import annotations

import pulumi
import pytest

from components.config import ConfigError, load_stack_config
from scripts.offline import Recorder, run_program
from tests.unit.conftest import AUTHENTIK, BASE, SECRET_KEYS, config_with

#: Self-managed mode with its CA named, so only the rule a case is about is broken.
SELF_MANAGED_TLS = {"mode": "self-managed", "tls": {"caConfigMap": "pg-ca"}}

BASE_NETWORK = BASE["idp-dr:network"]

#: (changes, exact message). One case per rule; several per rule where bounds matter.
ALB_POLICY = "alb.ingress.kubernetes.io/ssl-policy"

REFUSED = [
    pytest.param(
        {"idp-dr:database": {"backupRetentionDays": 0}},
        "invalid idp-dr:database.backupRetentionDays 0: an integer number of days from 1 to 35 (RDS keeps "
        "point-in-time backups for at most 35 days; 0 would disable them)",
        id="retention-0",
    ),
    pytest.param(
        {"idp-dr:database": {"backupRetentionDays": 36}},
        "invalid idp-dr:database.backupRetentionDays 36: an integer number of days from 1 to 35 (RDS keeps "
        "point-in-time backups for at most 35 days; 0 would disable them)",
        id="retention-36",
    ),
    pytest.param(
        {"idp-dr:database": {"replicatedBackupRetentionDays": 40}},
        "invalid idp-dr:database.replicatedBackupRetentionDays 40: an integer number of days from 1 to 35 "
        "(RDS keeps point-in-time backups for at most 35 days; 0 would disable them)",
        id="replicated-retention-40",
    ),
    pytest.param(
        {"idp-dr:idp": {"cdsArchive": "/opt/keycloak/lib/keycloak.jsa"}},
        "invalid idp-dr:idp.cdsArchive '/opt/keycloak/lib/keycloak.jsa': unset unless kind is keycloak with "
        "optimizedImage: true (an archive is made from, and only valid for, one pre-built image)",
        id="cds-without-optimized-image",
    ),
    pytest.param(
        {"idp-dr:idp": {"optimizedImage": True, "cdsArchive": "keycloak.jsa"}},
        "invalid idp-dr:idp.cdsArchive 'keycloak.jsa': an absolute path in the image: letters, digits, '_', '.', "
        "'-', '/'",
        id="cds-relative-path",
    ),
    pytest.param(
        {"idp-dr:idp": {"aotCache": "/opt/keycloak/lib/keycloak.aot"}},
        "invalid idp-dr:idp.aotCache '/opt/keycloak/lib/keycloak.aot': unset unless kind is keycloak with "
        "optimizedImage: true (an archive is made from, and only valid for, one pre-built image)",
        id="aot-without-optimized-image",
    ),
    pytest.param(
        {
            "idp-dr:idp": {
                "optimizedImage": True,
                "cdsArchive": "/opt/keycloak/lib/keycloak.jsa",
                "aotCache": "/opt/keycloak/lib/keycloak.aot",
            }
        },
        "invalid idp-dr:idp.aotCache '/opt/keycloak/lib/keycloak.aot': unset while idp.cdsArchive is set: one or "
        "the other (an AOT cache holds the archived classes too)",
        id="aot-and-cds",
    ),
    pytest.param(
        {"idp-dr:idp": {"kind": "authentik", "applicationSlug": "sso", "lateC2Compilation": True}},
        "invalid idp-dr:idp.lateC2Compilation True: false unless kind is keycloak (C2 is the JVM's compiler; "
        "authentik is Python)",
        id="late-c2-on-authentik",
    ),
    pytest.param(
        {"idp-dr:drRegion": "eu-west-1"},
        "invalid idp-dr:drRegion 'eu-west-1': a region other than primaryRegion (eu-west-1): a DR copy in "
        "the same region does not survive a regional outage",
        id="same-region",
    ),
    pytest.param(
        {"idp-dr:drRegion": "eu-wset-1"},
        "invalid idp-dr:drRegion 'eu-wset-1': an AWS region code where RDS exists, e.g. eu-west-1 (did you "
        "mean 'eu-west-1'?)",
        id="unknown-region",
    ),
    pytest.param(
        {"idp-dr:primaryRegion": "mars-north-1"},
        "invalid idp-dr:primaryRegion 'mars-north-1': an AWS region code where RDS exists, e.g. eu-west-1",
        id="unknown-primary-region",
    ),
    pytest.param(
        {"idp-dr:drRegion": "cn-north-1"},
        "invalid idp-dr:drRegion 'cn-north-1': a region in the same AWS partition as primaryRegion (aws)",
        id="cross-partition",
    ),
    pytest.param(
        {"idp-dr:dns": {"healthCheck": {"failureThreshold": 0}}},
        "invalid idp-dr:dns.healthCheck.failureThreshold 0: an integer from 1 to 10",
        id="threshold-0",
    ),
    pytest.param(
        {"idp-dr:dns": {"healthCheck": {"failureThreshold": 11}}},
        "invalid idp-dr:dns.healthCheck.failureThreshold 11: an integer from 1 to 10",
        id="threshold-11",
    ),
    pytest.param(
        {"idp-dr:dns": {"healthCheck": {"requestInterval": 15}}},
        "invalid idp-dr:dns.healthCheck.requestInterval 15: 10 or 30 (the only intervals Route 53 supports)",
        id="interval-15",
    ),
    pytest.param(
        {"idp-dr:dns": {"ttl": 61}},
        "invalid idp-dr:dns.ttl 61: an integer from 5 to 60 seconds (failover records must expire within a "
        "minute so clients follow a failover)",
        id="ttl-61",
    ),
    pytest.param(
        {"idp-dr:standby": {"drReplicas": -1}},
        "invalid idp-dr:standby.drReplicas -1: an integer from 0 (pilot light) to 50 (warm standby)",
        id="negative-replicas",
    ),
    pytest.param(
        {"idp-dr:archive": {"bucketName": "Bad_Bucket"}},
        "invalid idp-dr:archive.bucketName 'Bad_Bucket': an S3 bucket name: 3-63 characters of lowercase "
        "letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IP address",
        id="bucket-uppercase",
    ),
    pytest.param(
        {"idp-dr:archive": {"drBucketName": "a" * 64}},
        f"invalid idp-dr:archive.drBucketName '{'a' * 64}': an S3 bucket name: 3-63 characters of lowercase "
        "letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IP address",
        id="bucket-too-long",
    ),
    pytest.param(
        {"idp-dr:archive": {"bucketName": "192.168.1.10"}},
        "invalid idp-dr:archive.bucketName '192.168.1.10': an S3 bucket name: 3-63 characters of lowercase "
        "letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IP address",
        id="bucket-ip",
    ),
    pytest.param(
        {
            "idp-dr:database": {
                "drKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            }
        },
        "invalid idp-dr:database.drKmsKeyArn 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-"
        "56ef-1234567890ab': a KMS key in drRegion (eu-central-1), not eu-west-1: backups replicated to "
        "eu-central-1 can only be encrypted with a key that lives there",
        id="dr-key-wrong-region",
    ),
    pytest.param(
        {"idp-dr:database": {"drKmsKeyArn": "alias/my-key"}},
        "invalid idp-dr:database.drKmsKeyArn 'alias/my-key': a KMS key ARN, e.g. arn:aws:kms:eu-central-1:"
        "123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        id="dr-key-not-arn",
    ),
    pytest.param(
        {
            "idp-dr:database": {
                "mode": "self-managed",
                "selfManagedPrimaryHost": "pg.primary.internal",
                "selfManagedDrHost": "pg.dr.internal",
            }
        },
        "invalid idp-dr:database.tls.caConfigMap None: required with mode 'self-managed' and tls.mode "
        "'verify-full' (a ConfigMap, key ca.pem, with your server's CA; the shipped bundle only verifies RDS)",
        id="self-managed-verify-without-ca",
    ),
    pytest.param(
        {"idp-dr:database": {"tls": {"mode": "disable"}}},
        "invalid idp-dr:database.tls.mode 'disable': one of 'verify-full', 'verify-ca', 'require'",
        id="db-tls-disabled",
    ),
    pytest.param(
        {"idp-dr:network": {"dr": {"loadBalancerCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}},
        "invalid idp-dr:network.dr.loadBalancerCidrs ['0.0.0.0/1', '128.0.0.0/1']: private CIDR blocks (RFC "
        "1918, 100.64.0.0/10 or IPv6 ULA); '0.0.0.0/1' reaches the internet (the IdP's trusted proxy range is "
        "never open to it)",
        id="lb-cidrs-internet",
    ),
    pytest.param(
        {"idp-dr:standby": {"networkPolicy": {"ingressNamespaces": ["Ingress_Nginx"]}}},
        "invalid idp-dr:standby.networkPolicy.ingressNamespaces[0] 'Ingress_Nginx': a namespace name (DNS label)",
        id="ingress-namespace-bad",
    ),
    pytest.param(
        {"idp-dr:database": {**SELF_MANAGED_TLS, "selfManagedPrimaryHost": "pg.primary.internal"}},
        "invalid idp-dr:database.selfManagedDrHost None: required with mode 'self-managed' (together "
        "with selfManagedPrimaryHost)",
        id="self-managed-no-dr-host",
    ),
    pytest.param(
        {"idp-dr:database": {**SELF_MANAGED_TLS, "selfManagedDrHost": "pg.dr.internal"}},
        "invalid idp-dr:database.selfManagedPrimaryHost None: required with mode 'self-managed' (together "
        "with selfManagedDrHost)",
        id="self-managed-no-primary-host",
    ),
    pytest.param(
        {"idp-dr:database": SELF_MANAGED_TLS},
        "invalid idp-dr:database.selfManagedPrimaryHost None: required with mode 'self-managed' (together "
        "with selfManagedDrHost)",
        id="self-managed-no-hosts",
    ),
    pytest.param(
        {"idp-dr:dns": {"healthCheck": {"path": ""}}},
        "invalid idp-dr:dns.healthCheck.path '': an absolute URL path starting with '/', e.g. /health/ready",
        id="empty-path",
    ),
    pytest.param(
        {"idp-dr:dns": {"healthCheck": {"path": "health/ready"}}},
        "invalid idp-dr:dns.healthCheck.path 'health/ready': an absolute URL path starting with '/', e.g. "
        "/health/ready",
        id="relative-path",
    ),
    pytest.param(
        {"idp-dr:database": {"instanceClass": "m6g.large"}},
        "invalid idp-dr:database.instanceClass 'm6g.large': an RDS instance class starting with 'db.', e.g. "
        "db.m6g.large",
        id="instance-class",
    ),
    pytest.param(
        {"idp-dr:masterPassword": "s3cret"},
        "invalid idp-dr:masterPassword '[secret]': not set while database.manageMasterPassword is true (RDS "
        "generates and rotates the master password in Secrets Manager; remove the key or set "
        "manageMasterPassword: false)",
        id="password-and-managed",
    ),
    pytest.param(
        {"idp-dr:database": {"manageMasterPassword": False}},
        "invalid idp-dr:masterPassword None: required (as a secret) when database.manageMasterPassword is false",
        id="unmanaged-without-password",
    ),
    pytest.param(
        {"idp-dr:idp": {"kind": "okta"}},
        "invalid idp-dr:idp.kind 'okta': one of 'keycloak', 'authentik'",
        id="unknown-idp",
    ),
    pytest.param(
        {"idp-dr:idp": {"image": "quay.io/keycloak/keycloak:latest"}},
        "invalid idp-dr:idp.image 'quay.io/keycloak/keycloak:latest': a pinned image: a version tag or an "
        "@sha256 digest, not 'latest' (both regions must run the exact same build)",
        id="image-latest",
    ),
    pytest.param(
        {"idp-dr:idp": {"image": "quay.io/keycloak/keycloak"}},
        "invalid idp-dr:idp.image 'quay.io/keycloak/keycloak': a pinned image: add a version tag or an "
        "@sha256 digest (no tag means 'latest')",
        id="image-untagged",
    ),
    pytest.param(
        {"idp-dr:idp": {"publicHostname": "https://sso.example.com"}},
        "invalid idp-dr:idp.publicHostname 'https://sso.example.com': a lowercase DNS name without scheme or "
        "path, e.g. sso.example.com",
        id="hostname-with-scheme",
    ),
    pytest.param(
        {"idp-dr:database": {"backupRetentionDays": "fourteen"}},
        "invalid idp-dr:database.backupRetentionDays 'fourteen': an integer",
        id="retention-not-int",
    ),
    pytest.param(
        {"idp-dr:database": {"backupRetention": 14}},
        "unknown key idp-dr:database.backupRetention: not a setting of idp-dr (see docs/reference/configuration.md)",
        id="unknown-key",
    ),
    pytest.param({"idp-dr:dns": None}, "missing required key idp-dr:dns", id="missing-dns"),
    pytest.param(
        {"idp-dr:dbAppPassword": None},
        "invalid idp-dr:dbAppPassword None: required: set it with 'pulumi config set --secret "
        "idp-dr:dbAppPassword <password>'",
        id="missing-app-password",
    ),
    pytest.param(
        {"idp-dr:archive": {"walRetentionDays": 7}},
        "invalid idp-dr:archive.walRetentionDays 7: at least database.backupRetentionDays (14): WAL and base "
        "backups must cover the whole point-in-time window",
        id="wal-retention-below-window",
    ),
    pytest.param(
        {"idp-dr:network": {"primary": {"appCidrs": ["0.0.0.0/0"]}}},
        "invalid idp-dr:network.primary.appCidrs ['0.0.0.0/0']: private CIDR blocks, not 0.0.0.0/0 (the "
        "database is never open to all)",
        id="open-cidr",
    ),
    pytest.param(
        {"idp-dr:network": {"dr": {"dbSubnetIds": ["subnet-0f1e2d3c4b5a60001"]}}},
        "invalid idp-dr:network.dr.dbSubnetIds ['subnet-0f1e2d3c4b5a60001']: at least two subnet IDs (e.g. "
        "subnet-0123456789abcdef0) in different AZs",
        id="one-subnet",
    ),
    pytest.param(
        {"idp-dr:standby": {"namespace": "default"}},
        "invalid idp-dr:standby.namespace 'default': a DNS-label namespace other than default and kube-system",
        id="default-namespace",
    ),
    pytest.param(
        {"idp-dr:idp": {"kind": "authentik", "image": "ghcr.io/goauthentik/server:2025.10.2"}},
        "invalid idp-dr:idp.applicationSlug None: required for authentik: the OAuth2/OIDC application slug "
        "whose issuer is checked",
        id="authentik-without-slug",
    ),
    pytest.param(
        {**AUTHENTIK, "idp-dr:authentikSecretKey": None},
        "invalid idp-dr:authentikSecretKey None: required for authentik: 'pulumi config set --secret "
        "idp-dr:authentikSecretKey <key>' (both regions must share it)",
        id="authentik-without-key",
    ),
    pytest.param(
        {"idp-dr:standby": {"outpost": {"enabled": True}}},
        "invalid idp-dr:standby.outpost.enabled True: only with idp.kind 'authentik'",
        id="outpost-on-keycloak",
    ),
    pytest.param(
        {"idp-dr:database": {"appUsername": "idp_admin"}},
        "invalid idp-dr:database.appUsername 'idp_admin': a role other than database.masterUsername (idp_admin): "
        "the IdP's role is made to own its database and nothing more, which would strip the master user",
        id="app-user-is-the-master",
    ),
    pytest.param(
        {"idp-dr:archive": {"bucketName": "acme-sso-archive", "drBucketName": "acme-sso-archive"}},
        "invalid idp-dr:archive.drBucketName 'acme-sso-archive': a name other than archive.bucketName "
        "(acme-sso-archive): S3 bucket names are global, and the DR copy must be a second bucket in the DR region",
        id="dr-bucket-named-like-the-primary",
    ),
    pytest.param(
        {
            "idp-dr:standby": {
                "ingressAnnotations": {"alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-2016-08"}
            }
        },
        "invalid idp-dr:standby.ingressAnnotations.alb.ingress.kubernetes.io/ssl-policy 'ELBSecurityPolicy-2016-08': "
        "an ELB security policy that allows TLS 1.2 and later only (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06, the "
        "default): the IdP's logins and tokens cross it",
        id="alb-policy-allowing-tls-1-0",
    ),
    pytest.param(
        {
            "idp-dr:vault": {
                "accountId": "123456789012",
                "region": "eu-west-1",
                "roleArn": "arn:aws:iam::123456789012:role/vault",
            }
        },
        "invalid idp-dr:vault.accountId '123456789012': an account other than production's (123456789012, from "
        "kubernetes.primary.oidcProviderArn): a vault in the production account falls with its credentials",
        id="vault-in-the-production-account",
    ),
    pytest.param(
        {
            "idp-dr:vault": {
                "accountId": "210987654321",
                "region": "eu-west-1",
                "roleArn": "arn:aws:iam::123456789012:role/vault",
            }
        },
        "invalid idp-dr:vault.roleArn 'arn:aws:iam::123456789012:role/vault': a role in the vault account "
        "(210987654321)",
        id="vault-built-by-a-production-role",
    ),
    pytest.param(
        {
            "idp-dr:vault": {
                "accountId": "21098765432",
                "region": "eu-west-1",
                "roleArn": "arn:aws:iam::210987654321:role/vault",
            }
        },
        "invalid idp-dr:vault.accountId '21098765432': a 12-digit AWS account ID",
        id="vault-account-not-12-digits",
    ),
    pytest.param(
        {"idp-dr:protection": {"breakGlassRoleArn": "arn:aws:iam::210987654321:role/break-glass"}},
        "invalid idp-dr:protection.breakGlassRoleArn 'arn:aws:iam::210987654321:role/break-glass': a role in the "
        "production account (123456789012), whose DR keys and bucket it alone may unlock",
        id="break-glass-role-elsewhere",
    ),
]


@pytest.mark.parametrize(("changes", "message"), REFUSED)
def test_refused_setting_has_exact_message(changes, message):
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with(changes), SECRET_KEYS)
    assert info.value.problems == [message]


@pytest.mark.parametrize(("changes", "message"), REFUSED)
def test_refused_setting_registers_no_resource(changes, message):
    recorder = Recorder()
    with pytest.raises(pulumi.RunError) as info:
        run_program(config_with(changes), SECRET_KEYS, recorder=recorder)
    assert message in str(info.value)
    assert recorder.all() == [], [r.name for r in recorder.all()]


def test_secret_key_given_in_plain_text_is_refused():
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with(), secret_keys=set())
    assert info.value.problems == [
        "invalid idp-dr:dbAppPassword: must be stored as a secret ('pulumi config set --secret "
        "idp-dr:dbAppPassword ...'), not in plain text"
    ]


def test_all_problems_are_reported_at_once():
    changes = {"idp-dr:database": {"backupRetentionDays": 0, "instanceClass": "large"}, "idp-dr:dns": {"ttl": 300}}
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with(changes), SECRET_KEYS)
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"idp-dr:database": {"backupRetentionDays": 1}}, 1),
        ({"idp-dr:database": {"backupRetentionDays": 35}}, 35),
        ({}, 14),
    ],
)
def test_retention_boundaries_accepted(changes, expected):
    assert load_stack_config(config_with(changes), SECRET_KEYS).database.backup_retention_days == expected


@pytest.mark.parametrize("threshold", [1, 10])
def test_failure_threshold_boundaries_accepted(threshold):
    cfg = load_stack_config(config_with({"idp-dr:dns": {"healthCheck": {"failureThreshold": threshold}}}), SECRET_KEYS)
    assert cfg.dns.health_check.failure_threshold == threshold


def test_digest_pinned_image_accepted():
    image = "quay.io/keycloak/keycloak@sha256:" + "a" * 64
    cfg = load_stack_config(config_with({"idp-dr:idp": {"image": image}}), SECRET_KEYS)
    assert cfg.idp.image == image


def test_defaults_are_dr_safe():
    cfg = load_stack_config(config_with(), SECRET_KEYS)
    db = cfg.database
    assert (db.multi_az, db.deletion_protection, db.manage_master_password) == (True, True, True)
    assert db.backup_retention_days == 14
    assert cfg.dns.ttl == 60 and cfg.dns.secondary_record_health_check is False
    assert cfg.standby.dr_replicas == 0 and cfg.standby.secrets_mode == "external-secrets"
    assert cfg.wal_retention_days == 21  # the PITR window + one week of base-backup slack


def test_issuer_and_health_path_derived_per_idp():
    keycloak = load_stack_config(config_with(), SECRET_KEYS)
    authentik = load_stack_config(config_with(AUTHENTIK), SECRET_KEYS)
    assert keycloak.idp.issuer == "https://sso.example.com/realms/company"
    assert keycloak.health_path == "/health/ready"
    assert authentik.idp.issuer == "https://sso.example.com/application/o/portal/"
    assert authentik.health_path == "/-/health/ready/"


def test_a_dr_copy_lock_shorter_than_the_pitr_window_is_refused():
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with({"idp-dr:archive": {"drObjectLock": {"days": 7}}}), SECRET_KEYS)
    assert info.value.problems == [
        "invalid idp-dr:archive.drObjectLock.days 7: at least database.backupRetentionDays (14): the DR copy "
        "must stay locked for the whole point-in-time window"
    ]


@pytest.mark.parametrize("cidrs", [["0.0.0.0/1", "128.0.0.0/1"], ["8.8.8.0/24"]])
def test_app_cidrs_that_reach_the_internet_are_refused(cidrs):
    network = {
        "primary": {**BASE_NETWORK["primary"], "appCidrs": cidrs},
        "dr": BASE_NETWORK["dr"],
    }
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with({"idp-dr:network": network}), SECRET_KEYS)
    assert info.value.problems == [
        f"invalid idp-dr:network.primary.appCidrs {cidrs!r}: private CIDR blocks (RFC 1918, 100.64.0.0/10 or "
        f"IPv6 ULA); {cidrs[0]!r} reaches the internet (the database is never open to it)"
    ]


def test_carrier_grade_nat_and_ula_ranges_are_private():
    network = {
        "primary": {**BASE_NETWORK["primary"], "appCidrs": ["100.64.0.0/16", "fd00::/64"]},
        "dr": BASE_NETWORK["dr"],
    }
    assert load_stack_config(config_with({"idp-dr:network": network}), SECRET_KEYS).network.primary.app_cidrs


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"aws:owner": "x"}, "tag keys of 1-128 letters, digits, spaces and _.:/=+-@, not starting with 'aws:' "
         "('aws:owner' is not one)"),
        ({"k" * 129: "x"}, f"tag keys of 1-128 letters, digits, spaces and _.:/=+-@, not starting with 'aws:' "
         f"({'k' * 129!r} is not one)"),
        ({"team": "v" * 257}, "tag values of 0-256 letters, digits, spaces and _.:/=+-@ ('team' has another)"),
        ({f"t{i}": "x" for i in range(46)},
         "at most 45 tags (AWS allows 50 per resource; idp-dr adds its own); got 46"),
    ],
)  # fmt: skip
def test_tags_outside_aws_limits_are_refused(tags, message):
    with pytest.raises(ConfigError) as info:
        load_stack_config(config_with({"idp-dr:tags": tags}), SECRET_KEYS)
    assert info.value.problems == [f"invalid idp-dr:tags {tags!r}: {message}"]
