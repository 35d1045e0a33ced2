"""What every part of a site's standby shares: its name, arguments, namespace, labels and helpers."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._common import opts, policy_json, tags
from components.archive import IrsaSubject, irsa_trust_policy
from components.standby.spec import IdentityStandbyArgs


class StandbyBase(pulumi.ComponentResource):
    """The state the builders of :class:`~components.standby.component.IdentityStandby` share."""

    _name: str
    _args: IdentityStandbyArgs
    _ns: pulumi.Output[str]
    labels: dict[str, str]
    app: str
    db_secret_name: str
    external_secret_name: str | None

    # ------------------------------------------------------------------ helpers
    def _k8s(self, **kwargs) -> pulumi.ResourceOptions:
        return opts(self, self._args.k8s_provider, **kwargs)

    @property
    def _server_name(self) -> str:
        return "keycloak" if self.app == "keycloak" else "authentik-server"

    def _selector(self, component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.app, "app.kubernetes.io/component": component}

    def _irsa_role(
        self, suffix: str, service_account: str, statements: pulumi.Input[list[dict]], *,
        also: tuple[str, ...] = (), namespace: str | None = None,
    ) -> aws.iam.Role:  # fmt: skip
        """An IRSA role for ``service_account`` (and the accounts in ``also``) of this site's namespace, or of
        ``namespace`` (the drill namespace)."""
        args = self._args
        where = namespace or args.config.namespace
        subjects = [
            IrsaSubject(args.cluster.oidc_provider_arn, args.cluster.oidc_issuer_host, where, sa)
            for sa in (service_account, *also)
        ]
        role = aws.iam.Role(
            f"{self._name}-{suffix}-role",
            description=f"idp-dr {args.aws_site.name} site: {', '.join((service_account, *also))} (IRSA)",
            assume_role_policy=irsa_trust_policy(subjects),
            tags=tags(args.tag_base, **{"idp-dr:site": args.aws_site.name}),
            opts=opts(self, args.aws_site.provider),
        )
        aws.iam.RolePolicy(
            f"{self._name}-{suffix}-policy",
            role=role.id,
            policy=policy_json(statements),
            opts=opts(self, args.aws_site.provider),
        )
        return role

    def _irsa_service_account(self, suffix: str, service_account: str, statements: list[dict]) -> aws.iam.Role:
        """A service account of this namespace with its own IRSA role holding exactly ``statements``; its token
        is mounted only where a pod asks for it."""
        role = self._irsa_role(suffix, service_account, statements)
        k8s.core.v1.ServiceAccount(
            f"{self._name}-{suffix}-sa",
            metadata={
                "name": service_account,
                "namespace": self._ns,
                "labels": self.labels,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        return role
