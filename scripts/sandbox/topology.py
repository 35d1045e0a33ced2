"""Seed a production-like DR topology into moto and return matching stack outputs.

Used by ``python -m scripts sandbox`` (against ``moto_server``) and by the tests (moto
in-process). It creates what the Pulumi program creates for the RDS mode, with the same
semantics, and returns a dict that validates against :class:`contract.outputs.StackOutputs`:

* primary region: VPC, subnets, security group, subnet group, parameter group, KMS key and a
  PostgreSQL instance as the example production stack (``Pulumi.prod.yaml``: its version, class, storage and
  PITR window, :func:`example_database`) with Multi-AZ, gp3, deletion protection, a managed master secret
  and tags;
* DR region: the same network/parameter/KMS resources, a cross-region read replica, the app's
  DB credentials and the DR endpoint secret ``{"host","port","dbname"}`` in Secrets Manager;
* Route 53: per site a readiness check and an issuer string-match check combined into a
  CALCULATED check; PRIMARY/SECONDARY failover records, the SECONDARY without a health check.

moto cannot start automated-backup replication. ``replicatedBackupsArn`` is named after the primary
(``ab-`` + its DbiResourceId): plain moto answers nothing for it (the failover tests Stub that path), and
:func:`scripts.sandbox.motofix.apply_replicated_backups` (SIMULATED) answers it as AWS would, for the
sandbox and the drill tests.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import yaml

from components.config.sections import DatabaseConfig
from contract.outputs import FAILED_OVER_PATH
from contract.secrets import DB_SECRET_NAMES
from scripts.sandbox.motofix import replicated_backups_id

PRIMARY_REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ZONE = "example.com"


def example_database() -> DatabaseConfig:
    """The example production stack's database section (``Pulumi.prod.yaml``, with the config's defaults for
    what it leaves out): one place for the numbers the guide and the sandbox share."""
    from scripts.offline import REPO_ROOT

    document = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    return DatabaseConfig.model_validate(document["config"].get("idp-dr:database") or {})


@dataclass
class SiteHosts:
    """Where each site's health endpoint answers: 'host' or 'host:port'."""

    primary: str = "primary-sso.example.com"
    dr: str = "dr-sso.example.com"


IDP_DEFAULTS = {
    "keycloak": {
        "health": "/health/ready",
        "issuer_path": "/realms/company",
        "failed_over": FAILED_OVER_PATH,
        "db_secret": DB_SECRET_NAMES["keycloak"],
        "server": "keycloak",
        "worker": None,
    },
    "authentik": {
        "health": "/-/health/ready/",
        "issuer_path": "/application/o/portal/",
        "failed_over": "/-/health/failed-over/",
        "db_secret": DB_SECRET_NAMES["authentik"],
        "server": "authentik-server",
        "worker": "authentik-worker",
    },
}


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 443


def _archive_buckets(session: boto3.Session, primary_region: str, dr_region: str) -> None:
    """The archive's buckets (versioned, as the program makes them): failover keeps its state in the DR one."""
    for name, region in (("example-sso-archive-euw1", primary_region), ("example-sso-archive-euc1", dr_region)):
        s3 = session.client("s3", region_name=region)
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **location)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _network(session: boto3.Session, region: str, name: str) -> dict[str, Any]:
    ec2 = session.client("ec2", region_name=region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("ab", start=1)
    ]
    sg = ec2.create_security_group(GroupName=f"{name}-db", Description="IdP database: app pods only", VpcId=vpc)[
        "GroupId"
    ]
    # The cluster's pods (EKS: the cluster security group) are the database's only clients.
    pods = ec2.create_security_group(GroupName=f"{name}-pods", Description="the cluster's pods", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": pods}]}
        ],
    )
    rds = session.client("rds", region_name=region)
    # Same names in both regions (as the Pulumi program does); moto's cross-region replica also
    # resolves the source's group names in the DR region.
    rds.create_db_subnet_group(DBSubnetGroupName="idp-db", DBSubnetGroupDescription="IdP database", SubnetIds=subnets)
    rds.create_db_parameter_group(
        DBParameterGroupName="idp-postgres16",
        DBParameterGroupFamily="postgres16",
        Description="IdP PostgreSQL 16 (rds.force_ssl=1)",
    )
    key = session.client("kms", region_name=region).create_key(Description=f"{name} IdP database")["KeyMetadata"]
    return {
        "vpc": vpc,
        "subnets": subnets,
        "sg": sg,
        "pods_sg": pods,
        "subnet_group": "idp-db",
        "parameter_group": "idp-postgres16",
        "kms": key["Arn"],
    }


def _replicate_backups(dr_rds: Any, primary: dict[str, Any], key: str, primary_region: str, days: int) -> None:
    """As the program does: the primary's automated backups replicate to the DR region. Plain moto has no such
    call (NotImplementedError: nothing replicates, as the failover tests expect); the sandbox and the tests that
    apply :func:`scripts.sandbox.motofix.apply_replicated_backups` first record it (SIMULATED)."""
    with contextlib.suppress(NotImplementedError):
        dr_rds.start_db_instance_automated_backups_replication(
            SourceDBInstanceArn=primary["DBInstanceArn"], KmsKeyId=key, BackupRetentionPeriod=days,
            SourceRegion=primary_region,
        )  # fmt: skip


def seed_topology(
    session: boto3.Session,
    *,
    idp: str = "keycloak",
    hosts: SiteHosts | None = None,
    primary_region: str = PRIMARY_REGION,
    dr_region: str = DR_REGION,
    secrets_mode: str = "external-secrets",
    dr_replicas: int = 0,
    primary_replicas: int = 2,
    with_replica: bool = True,
) -> dict[str, Any]:
    """Create the topology and return stack outputs (camelCase, as ``pulumi stack output --json``)."""
    hosts = hosts or SiteHosts()
    d = IDP_DEFAULTS[idp]
    public = f"sso.{ZONE}"
    issuer = f"https://{public}{d['issuer_path']}".rstrip("/") + ("/" if idp == "authentik" else "")

    primary_net = _network(session, primary_region, "idp-prod")
    dr_net = _network(session, dr_region, "idp-dr")
    _archive_buckets(session, primary_region, dr_region)

    db = example_database()
    rds = session.client("rds", region_name=primary_region)
    primary = rds.create_db_instance(
        DBInstanceIdentifier="sso-db",
        DBInstanceClass=db.instance_class,
        Engine="postgres",
        EngineVersion=db.engine_version,
        DBName=idp,
        MasterUsername=db.master_username,
        ManageMasterUserPassword=True,
        MasterUserSecretKmsKeyId=primary_net["kms"],
        AllocatedStorage=db.allocated_storage_gb,
        StorageType="gp3",
        StorageEncrypted=True,
        KmsKeyId=primary_net["kms"],
        MultiAZ=True,
        DeletionProtection=True,
        BackupRetentionPeriod=db.backup_retention_days,
        DBSubnetGroupName=primary_net["subnet_group"],
        VpcSecurityGroupIds=[primary_net["sg"]],
        DBParameterGroupName=primary_net["parameter_group"],
        CopyTagsToSnapshot=True,
        PubliclyAccessible=False,
        EnableIAMDatabaseAuthentication=True,
        Tags=[
            {"Key": "app", "Value": idp},
            {"Key": "env", "Value": "prod"},
            {"Key": "owner", "Value": "identity-team"},
        ],
    )["DBInstance"]

    replica = None
    dr_rds = session.client("rds", region_name=dr_region)
    if with_replica:
        replica = dr_rds.create_db_instance_read_replica(
            DBInstanceIdentifier="sso-dr-replica",
            SourceDBInstanceIdentifier=primary["DBInstanceArn"],
            DBInstanceClass=db.dr_replica_instance_class or db.instance_class,
            KmsKeyId=dr_net["kms"],
            DBSubnetGroupName=dr_net["subnet_group"],
            VpcSecurityGroupIds=[dr_net["sg"]],
            DBParameterGroupName=dr_net["parameter_group"],
            SourceRegion=primary_region,
            Tags=[{"Key": "app", "Value": idp}, {"Key": "env", "Value": "dr"}],
        )["DBInstance"]
    _replicate_backups(dr_rds, primary, dr_net["kms"], primary_region, db.replicated_retention)
    account = session.client("sts", region_name=primary_region).get_caller_identity()["Account"]
    # Named after the primary (motofix.apply_replicated_backups answers for it, SIMULATED).
    backups_arn = f"arn:aws:rds:{dr_region}:{account}:auto-backup:{replicated_backups_id(primary['DbiResourceId'])}"

    sm = session.client("secretsmanager", region_name=dr_region)
    sm.create_secret(
        Name=f"{idp}/db-app-credentials",
        SecretString=json.dumps({"username": f"{idp}_app", "password": uuid.uuid4().hex}),
    )
    endpoint_host = (replica or primary)["Endpoint"]["Address"]
    endpoint_secret = sm.create_secret(
        Name=f"{idp}/dr-db-endpoint",
        SecretString=json.dumps({"host": endpoint_host, "port": 5432, "dbname": idp}),
    )["ARN"]

    primary_endpoint_secret = session.client("secretsmanager", region_name=primary_region).create_secret(
        Name=f"idp-dr/{idp}/db-endpoint",
        SecretString=json.dumps({"host": primary["Endpoint"]["Address"], "port": 5432, "dbname": idp}),
    )["ARN"]
    dns = _route53(session, hosts, d, public, issuer)

    return {
        "primaryRegion": primary_region,
        "drRegion": dr_region,
        "idp": idp,
        "publicHostname": public,
        "issuer": issuer,
        "database": {
            "mode": "rds",
            "primaryInstanceId": primary["DBInstanceIdentifier"],
            "primaryInstanceArn": primary["DBInstanceArn"],
            "primaryEndpoint": primary["Endpoint"]["Address"],
            "port": 5432,
            "dbName": idp,
            "masterSecretArn": (primary.get("MasterUserSecret") or {}).get("SecretArn"),
            "drReplicaInstanceId": replica["DBInstanceIdentifier"] if replica else None,
            "drReplicaArn": replica["DBInstanceArn"] if replica else None,
            "replicatedBackupsArn": backups_arn,
            "drKmsKeyArn": dr_net["kms"],
            "drSubnetGroupName": dr_net["subnet_group"],
            "drSecurityGroupIds": [dr_net["sg"]],
            "drParameterGroupName": dr_net["parameter_group"],
            "drRestoreInstanceId": "sso-dr-restore",
        },
        "archive": {
            "primaryBucket": "example-sso-archive-euw1",
            "drBucket": "example-sso-archive-euc1",
            "prefix": "pg",
            "serverName": "sso-db",
        },
        "standby": {
            "idp": idp,
            "namespace": "identity",  # the example stack's standby.namespace
            "serverDeployment": d["server"],
            "workerDeployment": d["worker"],
            "primaryReplicas": primary_replicas,
            "drReplicas": dr_replicas,
            "secretsMode": secrets_mode,
            "dbSecretName": d["db_secret"],
            "externalSecretName": f"{d['db_secret']}-sync" if secrets_mode == "external-secrets" else None,
            "drDbEndpointSecretArn": endpoint_secret,
            "primaryDbEndpointSecretArn": primary_endpoint_secret,
            "drKubeContext": "dr-cluster",
            "drillNamespace": "identity-drill",
        },
        "dns": dns,
        "restoreCommand": (
            f"python -m scripts restore rds --source {primary['DBInstanceIdentifier']} "
            "--target sso-dr-restore --latest "
            + f"--from-replicated-backups {backups_arn} --stack-outputs outputs.json"
        ),
        "rtoTargetSeconds": 1800,
        "rpoTargetSeconds": 900,
    }


def _route53(session: boto3.Session, hosts: SiteHosts, d: dict[str, Any], public: str, issuer: str) -> dict[str, Any]:
    r53 = session.client("route53", region_name="eu-west-1")
    zone = r53.create_hosted_zone(Name=ZONE, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"].split("/")[-1]

    def site_checks(hostport: str) -> tuple[str, str]:
        host, port = _split(hostport)
        readiness = r53.create_health_check(
            CallerReference=uuid.uuid4().hex,
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": host,
                "Port": port,
                "ResourcePath": d["health"],
                "RequestInterval": 30,
                "FailureThreshold": 1,
                "EnableSNI": True,
            },
        )["HealthCheck"]["Id"]
        issuer_path = issuer.split(public, 1)[1].rstrip("/") + "/.well-known/openid-configuration"
        issuer_match = r53.create_health_check(
            CallerReference=uuid.uuid4().hex,
            HealthCheckConfig={
                "Type": "HTTPS_STR_MATCH",
                "FullyQualifiedDomainName": host,
                "Port": port,
                "ResourcePath": issuer_path,
                "SearchString": f'"issuer":"{issuer}"',
                "RequestInterval": 30,
                "FailureThreshold": 1,
                "EnableSNI": True,
            },
        )["HealthCheck"]["Id"]
        calculated = r53.create_health_check(
            CallerReference=uuid.uuid4().hex,
            HealthCheckConfig={
                "Type": "CALCULATED",
                "ChildHealthChecks": [readiness, issuer_match],
                "HealthThreshold": 2,
            },
        )["HealthCheck"]["Id"]
        return readiness, calculated

    primary_ready, primary_calc = site_checks(hosts.primary)
    dr_ready, _dr_calc = site_checks(hosts.dr)
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": public,
                        "Type": "CNAME",
                        "SetIdentifier": "primary",
                        "Failover": "PRIMARY",
                        "TTL": 60,
                        "HealthCheckId": primary_calc,
                        "ResourceRecords": [{"Value": _split(hosts.primary)[0]}],
                    },
                },
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": public,
                        "Type": "CNAME",
                        "SetIdentifier": "secondary",
                        "Failover": "SECONDARY",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": _split(hosts.dr)[0]}],
                    },
                },
            ]
        },
    )
    return {
        "zoneId": zone,
        "recordName": public,
        "ttl": 60,
        "primaryHealthCheckId": primary_ready,
        "drHealthCheckId": dr_ready,
        "primaryRecordHealthCheckId": primary_calc,
        "secondaryRecordHealthCheckId": None,
        "primaryHealthHostname": hosts.primary,
        "drHealthHostname": hosts.dr,
        "healthPath": d["health"],
        "failedOverPath": d["failed_over"],
    }
