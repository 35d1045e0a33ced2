"""The standby's DB credentials (and authentik's key): synced by External Secrets, or written by Pulumi."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.standby.base import StandbyBase
from components.standby.spec import (
    AUTHENTIK_KEY_SECRET,
    BOOTSTRAP_ADMIN_ENV,
    BOOTSTRAP_ADMIN_SECRET,
    BOOTSTRAP_ADMIN_USER,
    SECRETS_READER_SA,
)
from contract.secrets import DB_SECRET_KEYS


class SecretsBuilder(StandbyBase):
    """Builds a site's Secrets (a mixin of :class:`~components.standby.component.IdentityStandby`)."""

    # ------------------------------------------------------------------ secrets
    def _secrets(self) -> None:
        """The site's DB Secret (and authentik's key): written by Pulumi, or synced by External Secrets."""
        if self._args.secrets.mode == "pulumi":
            self._pulumi_secrets()
        else:
            self._external_secrets(self._secret_store())
        self._bootstrap_admin_secret()

    def _bootstrap_admin_secret(self) -> None:
        """The first administrator, for the primary site's first start on an empty database (both IdPs ignore it
        once an administrator exists). Written by Pulumi in either mode: it is needed once, before any
        Secrets Manager sync could be set up by that administrator."""
        password = self._args.secrets.bootstrap_admin_password
        if password is None:
            return
        user_key, password_key = BOOTSTRAP_ADMIN_ENV[self.app]
        data = {
            password_key: pulumi.Output.from_input(password),
            **({user_key: BOOTSTRAP_ADMIN_USER} if user_key else {}),
        }
        k8s.core.v1.Secret(
            f"{self._name}-bootstrap-admin-secret",
            metadata={"name": BOOTSTRAP_ADMIN_SECRET, "namespace": self._ns, "labels": self.labels},
            string_data=pulumi.Output.secret(data),
            opts=self._k8s(),
        )

    def _pulumi_secrets(self) -> None:
        args, src = self._args, self._args.secrets
        keys = DB_SECRET_KEYS[self.app]
        k8s.core.v1.Secret(
            f"{self._name}-db-secret",
            metadata={"name": self.db_secret_name, "namespace": self._ns, "labels": self.labels},
            string_data=pulumi.Output.secret(
                {
                    keys["host"]: pulumi.Output.from_input(src.db_host),
                    keys["port"]: str(src.db_port),
                    keys["dbname"]: src.db_name,
                    keys["username"]: src.db_username,
                    keys["password"]: pulumi.Output.from_input(src.db_password),
                }
            ),
            # Like the DR endpoint secret (credentials.py): failover rewrites the DR copy with the
            # new endpoint, so after the first deployment Pulumi must not write it back (the
            # provider diffs stringData as data, hence both). A password rotation therefore
            # reaches the DR site only through the runbook or a manual patch.
            opts=self._k8s(ignore_changes=["data", "stringData"] if args.aws_site.name == "dr" else None),
        )
        if self.app == "authentik":
            k8s.core.v1.Secret(
                f"{self._name}-authentik-key-secret",
                metadata={"name": AUTHENTIK_KEY_SECRET, "namespace": self._ns, "labels": self.labels},
                string_data=pulumi.Output.secret({"AUTHENTIK_SECRET_KEY": src.authentik_secret_key}),
                opts=self._k8s(),
            )

    def _secret_store(self) -> k8s.apiextensions.CustomResource:
        """A SecretStore reading Secrets Manager in the site's region through a scoped IRSA role."""
        args, src = self._args, self._args.secrets
        readable = [src.credentials_arn, src.endpoint_arn]
        if src.authentik_key_arn is not None:
            readable.append(src.authentik_key_arn)
        role = self._irsa_role(
            "secrets-reader",
            SECRETS_READER_SA,
            [
                {
                    "Sid": "ReadIdpSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": readable,
                },
                {
                    "Sid": "DecryptIdpSecrets",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": src.kms_key_arns,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"secretsmanager.{args.aws_site.region}.amazonaws.com"}
                    },
                },
            ],
        )
        k8s.core.v1.ServiceAccount(
            f"{self._name}-secrets-reader-sa",
            metadata={
                "name": SECRETS_READER_SA,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        store = k8s.apiextensions.CustomResource(
            f"{self._name}-secret-store",
            api_version=src.external_secrets_api_version,
            kind="SecretStore",
            metadata={"name": "idp-dr-secrets-manager", "namespace": self._ns, "labels": self.labels},
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": args.aws_site.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": SECRETS_READER_SA}}},
                    }
                }
            },
            opts=self._k8s(),
        )
        return store

    def _external_secrets(self, store: k8s.apiextensions.CustomResource) -> None:
        src = self._args.secrets
        keys = DB_SECRET_KEYS[self.app]
        self.external_secret_name = self.db_secret_name
        template = {keys[field_]: "{{ ." + field_ + " }}" for field_ in keys}
        self._external_secret(
            f"{self._name}-db-external-secret",
            self.db_secret_name,
            store,
            template,
            [
                ("host", src.endpoint_name, "host"),
                ("port", src.endpoint_name, "port"),
                ("dbname", src.endpoint_name, "dbname"),
                ("username", src.credentials_name, "username"),
                ("password", src.credentials_name, "password"),
            ],
        )
        if src.authentik_key_name is not None:
            self._external_secret(
                f"{self._name}-authentik-key-external-secret",
                AUTHENTIK_KEY_SECRET,
                store,
                {"AUTHENTIK_SECRET_KEY": "{{ .key }}"},
                [("key", src.authentik_key_name, None)],
            )

    def _external_secret(
        self,
        resource_name: str,
        target: str,
        store: k8s.apiextensions.CustomResource,
        template: dict[str, str],
        data: list[tuple[str, pulumi.Input[str], str | None]],
    ):
        src = self._args.secrets
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=src.external_secrets_api_version,
            kind="ExternalSecret",
            metadata={"name": target, "namespace": self._ns, "labels": self.labels},
            spec={
                # A minute keeps the window short between a failover writing the endpoint and pods
                # seeing it; failover also forces an immediate sync.
                "refreshInterval": "1m",
                "secretStoreRef": {"name": store.metadata["name"], "kind": "SecretStore"},
                "target": {
                    "name": target,
                    "creationPolicy": "Owner",
                    "template": {"engineVersion": "v2", "data": template},
                },
                "data": [
                    {"secretKey": key, "remoteRef": {"key": remote, **({"property": prop} if prop else {})}}
                    for key, remote, prop in data
                ],
            },
            opts=self._k8s(),
        )
