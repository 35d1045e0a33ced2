"""Drills on AWS from the DR side: the drill namespace, its isolation, the drill's identity, its CronJob and alarms.

* ``<namespace>-drill``: where ``idp-dr drill --aws`` starts the IdP on the restored drill instance. Its
  NetworkPolicies deny everything but DNS, PostgreSQL and HTTPS out, and traffic between the namespace's own
  pods (the drill job to the drill IdP). No Ingress reaches it and no DNS record names it.
* The ``idp-dr-drill`` service account: RBAC to create and delete objects in the drill namespace only, and to
  read, by name, the standby's Deployment and exactly the Secrets and ConfigMaps its pods read; an IRSA role
  that can restore into, modify and delete only ``idp-dr-drill-*`` instances tagged as drills (and their
  security groups), read the replicated backups, the stack outputs, the baselines and the verifier client,
  write drill records and put the drill's metrics. A test evaluates its conditions.
* A monthly CronJob running ``drill --aws`` in the drill namespace (with ``runbook.image``).
* Alarms on what ``check dr-paths`` reads from the drill records hourly: no successful drill for
  ``maxDaysWithoutSuccess`` days, the newest drill failed, the newest successful drill's RTO above the target.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components._common import account_of, partition_of
from components.database import PG_PORT
from components.standby.alarms import DrPathAlarm, dr_path_alarm
from components.standby.network import NetworkPolicyBuilder
from components.standby.pods import PodBuilder, RunbookCronJob
from components.standby.spec import DrillSpec
from contract.backups import BASELINE_PREFIX
from contract.drills import (
    DRILL_AGE_METRIC,
    DRILL_METRIC_NAMESPACE,
    DRILL_PREFIX,
    DRILL_RECORD_PREFIX,
    KIND_DRILL,
    LAST_DRILL_RTO_METRIC,
    LAST_DRILL_SUCCEEDED_METRIC,
    TAG_KIND,
    drill_namespace,
    pod_references,
)
from contract.outputs import STACK_OUTPUTS_PARAMETER, stack_outputs_location
from contract.runbook import TOPOLOGY_RECORD_PREFIX

DRILL_SA = "idp-dr-drill"
_WRITE = ["get", "list", "create", "update", "patch", "delete"]


class DrillBuilder(NetworkPolicyBuilder, PodBuilder):
    """Builds the drill's namespace, identity, CronJob and alarms (a mixin of ``IdentityStandby``)."""

    def _drill(self, spec: DrillSpec) -> str:
        namespace = drill_namespace(self._args.config.namespace)
        ns = k8s.core.v1.Namespace(
            f"{self._name}-drill-namespace",
            metadata={
                "name": namespace,
                "labels": {**self.labels, "pod-security.kubernetes.io/enforce": "restricted", "idp-dr/drill": "true"},
            },
            opts=self._k8s(),
        )
        self._drill_network(ns.metadata.name)
        self._drill_identity(spec, ns.metadata.name)
        self._drill_rbac(ns.metadata.name)
        if spec.image and spec.schedule:
            self._drill_cronjob(spec, ns.metadata.name)
        self._drill_alarms(spec)
        return namespace

    # -- isolation -----------------------------------------------------------------------------------------
    def _drill_network(self, ns: pulumi.Output[str]) -> None:
        if not self._args.config.network_policy.enabled:  # turned off for the whole site (plan warns)
            return
        same_namespace: list[dict[str, Any]] = [{"podSelector": {}}]
        dns = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
        out: list[dict[str, Any]] = [
            {"to": dns, "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            {"ports": [{"port": PG_PORT, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]},
        ]
        self._policy("drill-default-deny", "idp-dr-drill-default-deny", {}, ingress=[], egress=[], namespace=ns)
        self._policy("drill-egress", "idp-dr-drill-egress", {}, egress=out, namespace=ns)
        self._policy("drill-within", "idp-dr-drill-within", {}, ingress=[{"from": same_namespace}],
                     egress=[{"to": same_namespace}], namespace=ns)  # fmt: skip

    # -- Kubernetes RBAC -----------------------------------------------------------------------------------
    def _drill_rbac(self, ns: pulumi.Output[str]) -> None:
        subject = [{"kind": "ServiceAccount", "name": DRILL_SA, "namespace": ns}]
        reads = pod_references(self._server_pod_spec or {"containers": []})
        self._role_with_binding(
            "drill-objects",
            ns,
            [
                {"apiGroups": [""], "resources": ["secrets", "configmaps", "services"], "verbs": _WRITE},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _WRITE},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
            ],
            subject,
        )
        standby_reads = [
            {
                "apiGroups": ["apps"],
                "resources": ["deployments"],
                "verbs": ["get"],
                "resourceNames": [self._server_name],
            }
        ]
        for kind, resource in (("secret", "secrets"), ("configmap", "configmaps")):
            if reads[kind]:
                standby_reads.append(
                    {"apiGroups": [""], "resources": [resource], "verbs": ["get"], "resourceNames": sorted(reads[kind])}
                )
        self._role_with_binding("drill-reads-standby", self._ns, standby_reads, subject)
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{self._name}-drill-namespace-reader",
            metadata={"name": f"idp-dr-drill-{self._args.config.namespace}", "labels": self.labels},
            rules=[{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": [ns]}],
            opts=self._k8s(),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{self._name}-drill-namespace-reader-binding",
            metadata={"name": f"idp-dr-drill-{self._args.config.namespace}", "labels": self.labels},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role.metadata.name,
            },
            subjects=subject,
            opts=self._k8s(),
        )

    def _role_with_binding(self, suffix: str, ns: pulumi.Input[str], rules: list[dict], subjects: list[dict]) -> None:
        role = k8s.rbac.v1.Role(
            f"{self._name}-{suffix}",
            metadata={"name": f"idp-dr-{suffix}", "namespace": ns, "labels": self.labels},
            rules=rules,
            opts=self._k8s(),
        )
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-{suffix}-binding",
            metadata={"name": f"idp-dr-{suffix}", "namespace": ns, "labels": self.labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
            subjects=subjects,
            opts=self._k8s(),
        )

    # -- AWS identity ----------------------------------------------------------------------------------------
    def _drill_identity(self, spec: DrillSpec, ns: pulumi.Output[str]) -> None:
        statements = pulumi.Output.all(
            account=account_of(spec.db_key_arn),
            backups=spec.replicated_backups_arn,
            bucket=spec.dr_bucket_name,
            db_key=spec.db_key_arn,
            bucket_key=spec.dr_bucket_key_arn,
            verifier=spec.verifier_secret_arn,
            verifier_key=spec.verifier_key_arn,
        ).apply(lambda arns: drill_policy_statements(spec, arns))
        role = self._irsa_role("drill", DRILL_SA, statements, namespace=drill_namespace(self._args.config.namespace))
        k8s.core.v1.ServiceAccount(
            f"{self._name}-drill-sa",
            metadata={
                "name": DRILL_SA,
                "namespace": ns,
                "labels": self.labels,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            automount_service_account_token=False,
            opts=self._k8s(),
        )

    # -- schedule and alarms ---------------------------------------------------------------------------------
    def _drill_cronjob(self, spec: DrillSpec, ns: pulumi.Output[str]) -> k8s.batch.v1.CronJob:
        args = [
            "drill",
            "--aws",
            "--stack-outputs",
            stack_outputs_location(spec.stack, spec.dr_region),
            "--kube-adapter",
            "kubectl",
            "--kube-context",
            "in-cluster",
            "--reach",
            "service",
            "--baseline",
            "latest",
            "--metric-namespace",
            DRILL_METRIC_NAMESPACE,
            "--metric-stack",
            spec.stack,
            "--report-dir",
            "/tmp/reports",  # noqa: S108 - a container path (emptyDir)
            "--json",
        ]
        return self._runbook_cronjob(
            RunbookCronJob(
                suffix="drill",
                name="idp-dr-drill",
                component="drill",
                container="drill",
                service_account=DRILL_SA,
                image=str(spec.image),
                schedule=str(spec.schedule),
                args=args,
                env=[{"name": "AWS_REGION", "value": spec.dr_region}],
                deadline_s=spec.deadline_minutes * 60,
                backoff=0,  # a failed drill is an outcome to alarm on, not to retry
                starting_deadline_s=6 * 3600,
                namespace=ns,
                api_token=True,  # kubectl in the pod: the drill namespace's objects, by its Role only
            )
        )

    def _drill_alarms(self, spec: DrillSpec) -> None:
        days = spec.max_days_without_success
        for alarm in (
            DrPathAlarm("drill-overdue", DRILL_AGE_METRIC, days, f"no drill has succeeded for more than {days} days: "
                        "the DR path is unproven (or the hourly check stopped reporting)"),
            DrPathAlarm("drill-failed", LAST_DRILL_SUCCEEDED_METRIC, 1, "the newest drill failed: its report (CronJob "
                        "logs, drill-report.md) says which phase or check", comparison="LessThanThreshold",
                        statistic="Minimum", missing="notBreaching"),
            DrPathAlarm("drill-rto-above-target", LAST_DRILL_RTO_METRIC, spec.rto_target_s, "the newest successful "
                        f"drill took longer than the RTO target ({spec.rto_target_s} s)", missing="notBreaching"),
        ):  # fmt: skip
            dr_path_alarm(self, self._name, alarm, stack=spec.stack, topic_arn=spec.alarm_topic_arn,
                          provider=self._args.aws_site.provider, tag_base=self._args.tag_base)  # fmt: skip


def drill_policy_statements(spec: DrillSpec, arns: dict[str, str]) -> list[dict[str, Any]]:
    """The drill role's policy: only drill-named, drill-tagged instances and groups may be created, changed or
    deleted; everything else it touches it only reads (or, the records and metrics, writes under its prefix).
    ``arns``: the account, the replicated backups, the DR bucket, and the keys and verifier secret, resolved."""
    p, r, account = partition_of(spec.dr_region), spec.dr_region, arns["account"]
    backups_arn = f"arn:{p}:rds:{r}:{account}:auto-backup:*"
    bucket = arns["bucket"]
    rds, ec2 = f"arn:{p}:rds:{r}:{account}", f"arn:{p}:ec2:{r}:{account}"
    drill_tag = {f"aws:RequestTag/{TAG_KIND}": KIND_DRILL}
    tagged_drill = {f"aws:ResourceTag/{TAG_KIND}": KIND_DRILL}
    bucket_arn = f"arn:{p}:s3:::{bucket}"
    # Restoring encrypted backups: RDS uses the key through a grant the caller creates (CreateGrant), only for
    # an AWS resource and only through RDS or Secrets Manager (the restored instance's master secret).
    via_rds = [f"rds.{r}.amazonaws.com", f"secretsmanager.{r}.amazonaws.com"]
    return [
        # One statement per action with every resource type the request names, so the tag condition (on the
        # request, not on a resource) applies to each: no drill tag, no restore, whatever the target.
        # From any of the DR region's replicated backups: the serving primary's ARN changes with every recover swap
        # and failback (it is per source instance); the drill-named, drill-tagged target is what keeps it a drill.
        {"Sid": "RestoreOnlyIntoDrillInstances", "Effect": "Allow", "Action": "rds:RestoreDBInstanceToPointInTime",
         "Resource": [f"{rds}:db:{DRILL_PREFIX}*", backups_arn, f"{rds}:subgrp:*", f"{rds}:pg:*", f"{rds}:og:*"],
         "Condition": {"StringEquals": drill_tag}},
        {"Sid": "TagOnlyDrillInstances", "Effect": "Allow", "Action": "rds:AddTagsToResource",
         "Resource": f"{rds}:db:{DRILL_PREFIX}*", "Condition": {"StringEquals": drill_tag}},
        # The drill restores without deletion protection, so deleting needs no ModifyDBInstance first: none granted.
        {"Sid": "DeleteOnlyDrillInstances", "Effect": "Allow", "Action": "rds:DeleteDBInstance",
         "Resource": f"{rds}:db:{DRILL_PREFIX}*", "Condition": {"StringEquals": tagged_drill}},
        {"Sid": "ReadRds", "Effect": "Allow", "Action": [
            "rds:DescribeDBInstances", "rds:DescribeDBInstanceAutomatedBackups", "rds:DescribeDBSubnetGroups",
            "rds:DescribeDBParameterGroups", "rds:ListTagsForResource"],
         "Resource": [f"{rds}:db:*", f"{rds}:auto-backup:*", f"{rds}:subgrp:*", f"{rds}:pg:*"]},
        # The serving primary, read by identifier in its region: its DbiResourceId names its replicated backups.
        {"Sid": "ReadTheServingPrimary", "Effect": "Allow", "Action": "rds:DescribeDBInstances",
         "Resource": f"arn:{p}:rds:{spec.primary_region}:{account}:db:*"},
        # DescribeEvents and DescribeSecurityGroups have no resource type (Service Authorization Reference).
        {"Sid": "ReadRdsEvents", "Effect": "Allow", "Action": "rds:DescribeEvents", "Resource": "*"},
        {"Sid": "CreateOnlyDrillGroups", "Effect": "Allow", "Action": "ec2:CreateSecurityGroup",
         "Resource": [f"{ec2}:security-group/*", f"{ec2}:vpc/*"], "Condition": {"StringEquals": drill_tag}},
        {"Sid": "TagGroupsOnlyAsTheyAreCreated", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": f"{ec2}:security-group/*",
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}}},
        {"Sid": "ChangeAndDeleteOnlyDrillGroups", "Effect": "Allow", "Action": [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DeleteSecurityGroup"],
         "Resource": f"{ec2}:security-group/*", "Condition": {"StringEquals": tagged_drill}},
        {"Sid": "ReadGroups", "Effect": "Allow", "Action": "ec2:DescribeSecurityGroups", "Resource": "*"},
        {"Sid": "GrantRdsTheDrDatabaseKey", "Effect": "Allow", "Action": "kms:CreateGrant",
         "Resource": arns["db_key"], "Condition": {"StringEquals": {"kms:ViaService": via_rds},
                                                   "Bool": {"kms:GrantIsForAWSResource": "true"}}},
        {"Sid": "UseTheDrDatabaseKeyThroughRds", "Effect": "Allow",
         "Action": ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": arns["db_key"], "Condition": {"StringEquals": {"kms:ViaService": via_rds}}},
        {"Sid": "TheRestoredInstancesManagedMasterSecret", "Effect": "Allow",
         "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
         "Resource": f"arn:{p}:secretsmanager:{r}:{account}:secret:rds!*"},
        {"Sid": "ReadTheStackOutputs", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": f"arn:{p}:ssm:{r}:{account}:parameter" + STACK_OUTPUTS_PARAMETER.format(stack=spec.stack)},
        {"Sid": "ListTheBaselines", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"{BASELINE_PREFIX}*"]}}},
        {"Sid": "ReadTheBaselinesAndTheTopologyRecord", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [f"{bucket_arn}/{BASELINE_PREFIX}*", f"{bucket_arn}/{TOPOLOGY_RECORD_PREFIX}*"]},
        # Its own outcome, and whether another drill has finished (its record) before removing what it left.
        {"Sid": "WriteAndReadDrillRecords", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": f"{bucket_arn}/{DRILL_RECORD_PREFIX}*"},
        {"Sid": "UseTheDrBucketKeyThroughS3", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": arns["bucket_key"],
         "Condition": {"StringEquals": {"kms:ViaService": f"s3.{r}.amazonaws.com"}}},
        {"Sid": "ReadTheVerifierClient", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": arns["verifier"]},
        {"Sid": "DecryptTheVerifierClient", "Effect": "Allow", "Action": "kms:Decrypt",
         "Resource": arns["verifier_key"],
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{r}.amazonaws.com"}}},
        {"Sid": "PublishTheDrillMetrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
         "Condition": {"StringEquals": {"cloudwatch:namespace": DRILL_METRIC_NAMESPACE}}},
    ]  # fmt: skip
