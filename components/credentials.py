"""DatabaseAccess: how each site's IdP finds and logs in to its database.

Secrets Manager secrets (customer-managed keys), readable in the DR region even
when the primary region is down:

* ``idp-dr/<name>/db-app-credentials``: ``{"username","password"}`` of the IdP's
  database role, created in the primary region and **replicated** to the DR
  region (encrypted there with the DR key). The role lives in the database, so
  it is restored by PITR and promoted with a replica: only the endpoint changes
  in a failover.
* ``idp-dr/<name>/db-endpoint`` in each region: ``{"host","port","dbname"}``.
  Pulumi owns the primary one. The DR one is written by ``python -m scripts
  failover`` when it promotes or restores a database, so Pulumi sets its first
  value and then ignores changes to it (a later ``pulumi up`` must not point
  the standby back at a dead primary).
* for authentik, ``idp-dr/<name>/authentik-secret-key``, replicated: both
  regions must share it or every signed session/value is invalidated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components._common import Sites, opts, tags

RECOVERY_WINDOW_DAYS = 30


@dataclass(frozen=True)
class DatabaseAccessArgs:
    sites: Sites
    primary_key_arn: pulumi.Input[str]
    dr_key_arn: pulumi.Input[str]
    app_username: str
    app_password: pulumi.Input[str]
    db_name: str
    port: int
    primary_host: pulumi.Input[str]
    #: First value of the DR endpoint (the DR replica, the primary for a warm standby, or a
    #: placeholder); failover overwrites it.
    dr_initial_host: pulumi.Input[str]
    authentik_secret_key: pulumi.Input[str] | None
    tag_base: dict[str, str]
    #: Secrets Manager names start with 'idp-dr/<secret_prefix>/'.
    secret_prefix: str


class DatabaseAccess(pulumi.ComponentResource):
    app_credentials_name: pulumi.Output[str]
    app_credentials_arn: pulumi.Output[str]
    app_credentials_dr_arn: pulumi.Output[str]
    primary_endpoint_name: pulumi.Output[str]
    primary_endpoint_arn: pulumi.Output[str]
    dr_endpoint_name: pulumi.Output[str]
    dr_endpoint_arn: pulumi.Output[str]
    authentik_key_name: pulumi.Output[str] | None
    verifier_secret_name: pulumi.Output[str]
    verifier_secret_arn: pulumi.Output[str]
    #: Its replica in the DR region (drills read it there).
    verifier_secret_dr_arn: pulumi.Output[str]
    authentik_key_arn: pulumi.Output[str] | None
    authentik_key_dr_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: DatabaseAccessArgs, opts_: pulumi.ResourceOptions | None = None):
        super().__init__("idp-dr:credentials:DatabaseAccess", name, None, opts_)
        self._args = args

        credentials = self._replicated_secret(
            f"{name}-app-credentials",
            f"idp-dr/{args.secret_prefix}/db-app-credentials",
            "Database role of the identity provider (replicated to the DR region)",
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-app-credentials-value",
            secret_id=credentials.id,
            secret_string=pulumi.Output.secret(
                # pulumi's stubs type secret()'s argument as Never; it takes any Output.
                pulumi.Output.json_dumps({"username": args.app_username, "password": args.app_password})  # type: ignore[arg-type]
            ),
            opts=opts(self, args.sites.primary.provider),
        )

        primary_endpoint = self._endpoint_secret(
            f"{name}-primary-endpoint",
            "primary",
            args.sites.primary.provider,
            args.primary_key_arn,
            args.primary_host,
            "Database endpoint of the primary site's identity provider",
            failover_owned=False,
        )
        dr_endpoint = self._endpoint_secret(
            f"{name}-dr-endpoint",
            "dr",
            args.sites.dr.provider,
            args.dr_key_arn,
            args.dr_initial_host,
            "Database endpoint of the DR site's identity provider (written by failover)",
            failover_owned=True,
        )

        self.authentik_key_name = self.authentik_key_arn = self.authentik_key_dr_arn = None
        if args.authentik_secret_key is not None:
            key_secret = self._replicated_secret(
                f"{name}-authentik-secret-key",
                f"idp-dr/{args.secret_prefix}/authentik-secret-key",
                "authentik secret key shared by both regions (replicated)",
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-authentik-secret-key-value",
                secret_id=key_secret.id,
                secret_string=pulumi.Output.secret(args.authentik_secret_key),
                opts=opts(self, args.sites.primary.provider),
            )
            self.authentik_key_name = key_secret.name
            self.authentik_key_arn = key_secret.arn
            self.authentik_key_dr_arn = self._dr_arn(key_secret.arn)

        self._verifier_secret(name)
        self.app_credentials_name = credentials.name
        self.app_credentials_arn = credentials.arn
        self.app_credentials_dr_arn = self._dr_arn(credentials.arn)
        self.primary_endpoint_name = primary_endpoint.name
        self.primary_endpoint_arn = primary_endpoint.arn
        self.dr_endpoint_name = dr_endpoint.name
        self.dr_endpoint_arn = dr_endpoint.arn
        self.register_outputs(
            {
                "app_credentials_arn": self.app_credentials_arn,
                "app_credentials_dr_arn": self.app_credentials_dr_arn,
                "primary_endpoint_arn": self.primary_endpoint_arn,
                "dr_endpoint_arn": self.dr_endpoint_arn,
                "authentik_key_arn": self.authentik_key_arn,
            }
        )

    def _verifier_secret(self, name: str) -> None:
        """Written by `idp-dr bootstrap verifier` (the client's secret is Keycloak's, not Pulumi's): no version
        here, so no value reaches the state."""
        verifier = self._replicated_secret(
            f"{name}-verifier-client",
            f"idp-dr/{self._args.secret_prefix}/verifier-client",
            "Client credentials of the verifier client (bootstrap verifier writes it; replicated to DR)",
        )
        self.verifier_secret_name = verifier.name
        self.verifier_secret_arn = verifier.arn
        self.verifier_secret_dr_arn = self._dr_arn(verifier.arn)

    def _replicated_secret(self, resource_name: str, secret_name: str, description: str):
        args = self._args
        return aws.secretsmanager.Secret(
            resource_name,
            name=secret_name,
            description=description,
            kms_key_id=args.primary_key_arn,
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            replicas=[{"region": args.sites.dr.region, "kms_key_id": args.dr_key_arn}],
            tags=tags(args.tag_base),
            opts=opts(self, args.sites.primary.provider),
        )

    def _endpoint_secret(
        self,
        resource_name: str,
        site: str,
        provider: pulumi.ProviderResource,
        key_arn: pulumi.Input[str],
        host: pulumi.Input[str],
        description: str,
        *,
        failover_owned: bool,
    ) -> aws.secretsmanager.Secret:
        """``idp-dr/<prefix>/db-endpoint`` in one region, holding {"host","port","dbname"}."""
        args = self._args
        secret = aws.secretsmanager.Secret(
            resource_name,
            name=f"idp-dr/{args.secret_prefix}/db-endpoint",
            description=description,
            kms_key_id=key_arn,
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            tags=tags(args.tag_base, **{"idp-dr:site": site}),
            opts=opts(self, provider),
        )
        aws.secretsmanager.SecretVersion(
            f"{resource_name}-value",
            secret_id=secret.id,
            secret_string=self._endpoint_json(host),
            # Failover owns the DR value after the first deployment.
            opts=opts(self, provider, ignore_changes=["secretString"] if failover_owned else None),
        )
        return secret

    def _endpoint_json(self, host: pulumi.Input[str]) -> pulumi.Output[str]:
        args = self._args
        return pulumi.Output.from_input(host).apply(
            lambda h: json.dumps({"host": h, "port": str(args.port), "dbname": args.db_name})
        )

    def _dr_arn(self, primary_arn: pulumi.Output[str]) -> pulumi.Output[str]:
        """A replica secret has the primary's ARN with the region swapped."""
        args = self._args
        primary, dr = f":{args.sites.primary.region}:", f":{args.sites.dr.region}:"
        return primary_arn.apply(lambda arn: arn.replace(primary, dr, 1))
