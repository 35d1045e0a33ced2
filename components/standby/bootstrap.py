"""The database bootstrap Job: ``idp-dr bootstrap db`` in the primary cluster before the IdP starts.

A fresh RDS instance has its database and a master user whose password RDS manages; nothing else
makes the IdP's role. The Job (the runbook image, ``runbook.image``) reads the master secret and the
app-credentials secret through its own IRSA role, creates or repairs the role, and exits; Pulumi
waits for it to complete before it creates the IdP's Deployments, so they start against a database
they can log in to instead of crash-looping. Its name carries a hash of its inputs: a changed image,
endpoint or secret replaces it, which runs it again (a Job's pod template cannot be updated).
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_kubernetes as k8s

from components.database import PG_PORT
from components.standby.pods import PodBuilder
from components.standby.spec import RUNBOOK_UID, BootstrapSpec

BOOTSTRAP_SA = "idp-dr-bootstrap"


class BootstrapBuilder(PodBuilder):
    """Builds the bootstrap Job (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    def _bootstrap_job(self, spec: BootstrapSpec) -> k8s.batch.v1.Job:
        self._irsa_service_account(
            "bootstrap",
            BOOTSTRAP_SA,
            [
                {
                    "Sid": "ReadTheTwoSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": [spec.master_secret_arn, spec.app_credentials_arn],
                },
                {
                    "Sid": "DecryptThemThroughSecretsManager",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": list(spec.kms_key_arns),
                    "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{spec.region}.amazonaws.com"}},
                },
            ],
        )
        args = pulumi.Output.all(spec.host, spec.master_secret_arn, spec.app_credentials_name).apply(
            lambda values: _argv(spec, *values)
        )
        name = args.apply(lambda argv: f"idp-dr-bootstrap-db-{_digest(spec.image, argv)}")
        labels = {**self.labels, "app.kubernetes.io/component": "bootstrap"}
        container = {
            "name": "bootstrap-db",
            "image": spec.image,
            "args": args,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "securityContext": {
                **self._container_security(),
                "runAsUser": RUNBOOK_UID,
                "readOnlyRootFilesystem": True,
            },
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a container path (emptyDir)
        }
        return k8s.batch.v1.Job(
            f"{self._name}-bootstrap-db",
            metadata={"name": name, "namespace": self._ns, "labels": labels},
            spec={
                "backoffLimit": 6,  # the database may still be coming up on a first `pulumi up`
                "activeDeadlineSeconds": 1800,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": BOOTSTRAP_SA,
                        "automountServiceAccountToken": False,
                        "restartPolicy": "Never",
                        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
            opts=self._k8s(delete_before_replace=True, custom_timeouts=pulumi.CustomTimeouts(create="30m")),
        )


def _argv(spec: BootstrapSpec, host: str, master_secret_arn: str, app_credentials: str) -> list[str]:
    return [
        *("bootstrap", "db", "--json"),
        *("--host", host, "--port", str(PG_PORT), "--dbname", spec.dbname),
        *("--master-secret", master_secret_arn, "--app-credentials-secret", app_credentials, "--region", spec.region),
    ]


def _digest(image: str, argv: list[str]) -> str:
    return hashlib.sha256(json.dumps([image, argv]).encode()).hexdigest()[:10]
