"""The scheduled baseline: ``idp-dr baseline --publish`` as a weekly CronJob in the primary cluster.

Drills and failovers verify the DR side against ``--baseline latest``: the newest baseline in the DR bucket.
Taken by hand it ages; this job takes one every week (and on demand: ``kubectl create job --from=cronjob/
idp-dr-baseline``). It reaches the IdP through its in-cluster Service (a NetworkPolicy lets exactly this
job's pods in), reads the verifier client's secret for the token check, reads the stack outputs from their
DR-region copy, and writes only under ``idp-dr/baselines/`` of the DR bucket. Nothing it holds can change
the IdP, the database or DNS.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components._common import account_of, partition_of
from components.standby.network import NetworkPolicyBuilder
from components.standby.pods import PodBuilder, RunbookCronJob
from components.standby.spec import KEYCLOAK_HTTP_PORT, KEYCLOAK_MGMT_PORT, BaselineSpec
from contract.backups import BASELINE_PREFIX
from contract.outputs import STACK_OUTPUTS_PARAMETER, stack_outputs_location

BASELINE_SA = "idp-dr-baseline"


class BaselineBuilder(NetworkPolicyBuilder, PodBuilder):
    """Builds the baseline CronJob (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _baseline(self, spec: BaselineSpec) -> k8s.batch.v1.CronJob:
        self._baseline_service_account(spec)
        self._baseline_network_path()
        return self._baseline_cronjob(spec)

    def _baseline_service_account(self, spec: BaselineSpec) -> None:
        partition = partition_of(spec.dr_region)
        bucket_arn = pulumi.Output.from_input(spec.dr_bucket_name).apply(lambda b: f"arn:{partition}:s3:::{b}")
        parameter_arn = account_of(spec.dr_key_arn).apply(
            lambda account: (
                f"arn:{partition}:ssm:{spec.dr_region}:{account}:parameter"
                + STACK_OUTPUTS_PARAMETER.format(stack=spec.stack)
            )
        )
        self._irsa_service_account(
            "baseline",
            BASELINE_SA,
            [
                {
                    "Sid": "ReadTheStackOutputs",
                    "Effect": "Allow",
                    "Action": "ssm:GetParameter",
                    "Resource": parameter_arn,
                },
                {
                    "Sid": "ReadTheVerifierClient",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": spec.verifier_secret_arn,
                },
                {
                    "Sid": "DecryptTheVerifierClient",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": spec.verifier_key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{spec.primary_region}.amazonaws.com"}
                    },
                },
                {
                    "Sid": "PublishBaselines",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": pulumi.Output.concat(bucket_arn, f"/{BASELINE_PREFIX}*"),
                },
                {
                    "Sid": "UseTheDrBucketKeyThroughS3",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                    "Resource": spec.dr_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{spec.dr_region}.amazonaws.com"}},
                },
            ],
        )

    def _baseline_network_path(self) -> None:
        """The default-deny policies keep every pod off the IdP but the load balancer: let this job in."""
        if not self._args.config.network_policy.enabled:
            return
        job = {"app.kubernetes.io/component": "baseline"}
        server = self._selector("server")
        tcp = self._serving_ports()
        self._policy(
            "baseline-to-server",
            "idp-dr-baseline-to-server",
            job,
            egress=[{"to": [{"podSelector": {"matchLabels": server}}], "ports": tcp}],
        )
        self._policy(
            "server-from-baseline",
            "idp-dr-server-from-baseline",
            server,
            ingress=[{"from": [{"podSelector": {"matchLabels": job}}], "ports": tcp}],
        )

    def _baseline_cronjob(self, spec: BaselineSpec) -> k8s.batch.v1.CronJob:
        service = f"http://{self._server_name}.{self._args.config.namespace}.svc.cluster.local"
        if self.app == "keycloak":  # the Service's ports (components.standby.ingress)
            target = [
                "--base-url",
                f"{service}:{KEYCLOAK_HTTP_PORT}",
                "--mgmt-url",
                f"{service}:{KEYCLOAK_MGMT_PORT}",
                "--realm",
                spec.scope,
            ]
        else:
            target = ["--base-url", service, "--app", spec.scope]
        args = pulumi.Output.from_input(spec.verifier_secret_name).apply(
            lambda verifier: [
                "baseline",
                "--idp",
                self.app,
                *target,
                "--verifier-secret",
                verifier,
                "--secrets-region",
                spec.primary_region,
                "--publish",
                "--stack-outputs",
                stack_outputs_location(spec.stack, spec.dr_region),
                "--json",
            ]
        )
        return self._runbook_cronjob(
            RunbookCronJob(
                suffix="baseline",
                name="idp-dr-baseline",
                component="baseline",
                container="baseline",
                service_account=BASELINE_SA,
                image=spec.image,
                schedule=spec.schedule,
                args=args,
                env=[{"name": "AWS_REGION", "value": spec.primary_region}],
                deadline_s=15 * 60,
            )
        )
