"""Run the Pulumi program offline, under Pulumi's mocks, and record what it declares.

No Pulumi CLI, no cloud account, no cluster: ``pulumi.runtime.set_mocks`` plays
the engine. The :class:`Recorder` keeps every registered resource with its
type, name, inputs, provider (and that provider's region), parent and
``protect`` flag, and fills the fields a real provider would compute (ARNs in
the right region and partition, endpoints, IDs, the ingress load balancer).

Used by ``python -m scripts plan`` and by the unit tests (tests/unit), so the
reviewer's offline plan and the tests see exactly the same program.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor

from scripts.errors import InputError
from scripts.inputs import read_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PROGRAM = REPO_ROOT / "__main__.py"
PROJECT = "idp-dr"
ACCOUNT = "123456789012"
#: Value given to a ``secure:`` key when running offline (the real ciphertext needs the Pulumi CLI).
OFFLINE_SECRET_VALUE = "offline-plan-placeholder-secret"  # noqa: S105 - a placeholder, not a credential


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    id: str = ""
    urn: str = ""
    parent_urn: str = ""
    provider_urn: str = ""
    provider_name: str = ""
    region: str | None = None
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    #: URNs of the resources this one was declared to depend on (``depends_on``).
    dependencies: list[str] = field(default_factory=list)

    @property
    def is_provider(self) -> bool:
        return self.typ.startswith("pulumi:providers:")


class Recorder(pulumi.runtime.Mocks):
    """Mocks that record every resource and compute AWS/Kubernetes-shaped outputs."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], Recorded] = {}
        self.calls: list[str] = []
        self.meta: dict[tuple[str, str], dict[str, Any]] = {}

    # -- queries ---------------------------------------------------------
    def all(self) -> list[Recorded]:
        return list(self.resources.values())

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources.values() if r.typ == typ]

    def one(self, typ: str, name: str) -> Recorded:
        return self.resources[(typ, name)]

    def by_name(self, name: str) -> Recorded:
        matches = [r for r in self.resources.values() if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self, urn: str) -> Recorded | None:
        for record in self.resources.values():
            if record.urn == urn:
                return record
        return None

    def children_of(self, urn: str) -> Iterator[Recorded]:
        return (r for r in self.resources.values() if r.parent_urn == urn)

    # -- Mocks API ---------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        key = (args.typ, args.name)
        if key in self.resources:
            raise AssertionError(f"duplicate resource {args.typ} {args.name!r}")
        provider_urn = (args.provider or "").split("::")[0:-1]
        provider_urn_str = "::".join(provider_urn) if provider_urn else ""
        provider_name = provider_urn_str.rsplit("::", 1)[-1] if provider_urn_str else ""
        region = self._region_of(provider_urn_str, args.inputs)
        account = self._account_of(provider_urn_str)
        resource_id, computed = self._computed(args.typ, args.name, args.inputs, region, account)
        outputs = {**args.inputs, **computed}
        self.resources[key] = Recorded(
            typ=args.typ,
            name=args.name,
            inputs=dict(args.inputs),
            outputs=outputs,
            custom=bool(args.custom),
            id=resource_id,
            provider_urn=provider_urn_str,
            provider_name=provider_name,
            region=region,
            **self.meta.pop(key, {}),
        )
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs):
        # The program derives every ARN it needs from resources, so `pulumi preview` needs no
        # data-source calls; an invoke appearing here is a regression worth a failing test.
        self.calls.append(args.token)
        raise NotImplementedError(f"the program made an unexpected invoke: {args.token}")

    # -- computed fields -----------------------------------------------------
    def _region_of(self, provider_urn: str, inputs: dict[str, Any]) -> str | None:
        if "region" in inputs and isinstance(inputs["region"], str):
            return inputs["region"]
        for record in list(self.resources.values()):  # resources arrive from several threads
            if record.is_provider and record.urn == provider_urn:
                return record.inputs.get("region")
        return None

    def _account_of(self, provider_urn: str) -> str:
        """A provider pinned to another account (the vault's ``allowedAccountIds``) creates its ARNs there."""
        for record in list(self.resources.values()):  # resources arrive from several threads
            if record.is_provider and record.urn == provider_urn and record.inputs.get("allowedAccountIds"):
                allowed = record.inputs["allowedAccountIds"]  # providers' list inputs arrive JSON-encoded
                return str((json.loads(allowed) if isinstance(allowed, str) else allowed)[0])
        return ACCOUNT

    @staticmethod
    def _computed(
        typ: str, name: str, inputs: dict[str, Any], region: str | None, account: str = ACCOUNT
    ) -> tuple[str, dict]:
        digest = hashlib.sha256(f"{typ}/{name}".encode()).hexdigest()
        region = region or "us-east-1"
        partition = _partition(region)
        arn_prefix = f"arn:{partition}"
        out: dict[str, Any] = {}
        rid = f"{name}-id"
        if typ == "aws:kms/key:Key":
            key_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            rid = key_id
            out = {"arn": f"{arn_prefix}:kms:{region}:{account}:key/{key_id}", "keyId": key_id}
        elif typ == "aws:rds/instance:Instance":
            ident = inputs.get("identifier") or name
            rid = ident
            out = {
                "arn": f"{arn_prefix}:rds:{region}:{account}:db:{ident}",
                "identifier": ident,
                "address": f"{ident}.c{digest[:12]}.{region}.rds.amazonaws.com",
                "endpoint": f"{ident}.c{digest[:12]}.{region}.rds.amazonaws.com:5432",
                "resourceId": f"db-{digest[:26].upper()}",
                "masterUserSecrets": (
                    [
                        {
                            "secretArn": f"{arn_prefix}:secretsmanager:{region}:{account}:secret:rds!db-{digest[:8]}",
                            "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"),
                            "secretStatus": "active",
                        }
                    ]
                    if inputs.get("manageMasterUserPassword")
                    else []
                ),
            }
        elif typ == "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication":
            rid = f"{arn_prefix}:rds:{region}:{account}:auto-backup:ab-{digest[:26]}"
        elif typ in ("aws:rds/parameterGroup:ParameterGroup", "aws:rds/subnetGroup:SubnetGroup"):
            rid = inputs.get("name") or f"{name}-{digest[:7]}"
            out = {"name": rid, "arn": f"{arn_prefix}:rds:{region}:{account}:pg:{rid}"}
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = f"sg-{digest[:17]}"
        elif typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name + '-')}{digest[:12]}"
            rid = bucket
            out = {"bucket": bucket, "arn": f"{arn_prefix}:s3:::{bucket}", "region": region}
        elif typ == "aws:secretsmanager/secret:Secret":
            secret_name = inputs.get("name") or name
            arn = f"{arn_prefix}:secretsmanager:{region}:{account}:secret:{secret_name}-{digest[:6]}"
            rid = arn
            out = {"arn": arn, "name": secret_name}
        elif typ == "aws:iam/role:Role":
            out = {"arn": f"{arn_prefix}:iam::{account}:role/{name}", "name": name}
            rid = name
        elif typ == "aws:backup/vault:Vault":
            vault = inputs.get("name") or name
            out = {"arn": f"{arn_prefix}:backup:{region}:{account}:backup-vault:{vault}", "name": vault}
            rid = vault
        elif typ == "aws:sns/topic:Topic":
            out = {"arn": f"{arn_prefix}:sns:{region}:{account}:{name}", "name": name}
        elif typ == "aws:route53/healthCheck:HealthCheck":
            rid = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
            out = {"arn": f"{arn_prefix}:route53:::healthcheck/{rid}"}
        elif typ == "kubernetes:networking.k8s.io/v1:Ingress":
            out = {
                "status": {
                    "loadBalancer": {"ingress": [{"hostname": f"k8s-{digest[:8]}-{digest[8:16]}.elb.amazonaws.com"}]}
                }
            }
        return rid, out


def _partition(region: str) -> str:
    from components.config import known_regions

    return {"aws": "aws", "aws-cn": "aws-cn", "aws-us-gov": "aws-us-gov"}.get(known_regions().get(region, "aws"), "aws")


class RecordingMonitor(MockMonitor):
    """Adds what MockResourceArgs leaves out: parent, protect, ignoreChanges, URN."""

    def __init__(self, recorder: Recorder):
        super().__init__(recorder)
        self.recorder = recorder

    def RegisterResource(self, request):
        key = (request.type, request.name)
        self.recorder.meta[key] = {
            "urn": self.make_urn(request.parent, request.type, request.name),
            "parent_urn": request.parent,
            "protect": bool(request.protect),
            "ignore_changes": list(request.ignoreChanges),
            "dependencies": list(request.dependencies),
        }
        response = super().RegisterResource(request)
        record = self.recorder.resources.get(key)
        if record is not None and not record.urn:  # component resources: meta applied here
            for attr, value in self.recorder.meta.pop(key, {}).items():
                setattr(record, attr, value)
        return response


@dataclass
class OfflineRun:
    recorder: Recorder
    outputs: dict[str, Any]
    secret_outputs: set[str]


def run_program(
    config: dict[str, Any],
    secret_keys: set[str] | None = None,
    *,
    stack: str = "prod",
    program: Path = PROGRAM,
    recorder: Recorder | None = None,
) -> OfflineRun:
    """Run ``__main__.py`` under mocks with this config; return what it declared.

    ``config`` maps full keys (``idp-dr:database``) to values; dicts and lists are
    JSON-encoded the way Pulumi passes structured config. Raises whatever the
    program raises (e.g. ``pulumi.RunError`` for refused config); pass a
    ``recorder`` to inspect what was registered before such a failure.
    """
    recorder = recorder if recorder is not None else Recorder()
    encoded = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in config.items()}
    runtime_settings.ROOT.set(None)  # a fresh root stack for every run
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=True, monitor=RecordingMonitor(recorder))
    pulumi.runtime.set_all_config(encoded, sorted(secret_keys or set()))
    collected: dict[str, Any] = {}
    secret_names: set[str] = set()

    @pulumi.runtime.test  # waits for every registration the program starts
    def program_run():
        runpy.run_path(str(program), run_name="__main__")
        stack_outputs = runtime_settings.get_root_resource().outputs

        async def gather() -> None:
            for name, value in stack_outputs.items():
                out = pulumi.Output.from_input(value)
                collected[name] = await out.future(with_unknowns=False)
                if await out.is_secret():
                    secret_names.add(name)

        return pulumi.Output.from_input(gather())

    program_run()
    return OfflineRun(recorder=recorder, outputs=collected, secret_outputs=secret_names)


def load_stack_file(
    path: Path, *, field: str = "--stack-file", shown: str | None = None
) -> tuple[dict[str, Any], set[str]]:
    """Config of a ``Pulumi.<stack>.yaml`` for an offline run.

    ``secure:`` values cannot be decrypted without the Pulumi CLI; they are
    replaced by a placeholder and marked secret, which is all validation and
    the plan need (secret values are never printed).
    """
    document = read_yaml(field, path, "a Pulumi stack config file (YAML)", shown=shown) or {}
    if not isinstance(document, dict):
        raise InputError(field, shown or str(path), "a Pulumi stack config file (a YAML mapping with a config: key)")
    config: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = OFFLINE_SECRET_VALUE
            secret_keys.add(key)
        elif isinstance(value, dict) and "value" in value and len(value) == 1:
            config[key] = value["value"]
        else:
            config[key] = value
    return config, secret_keys
