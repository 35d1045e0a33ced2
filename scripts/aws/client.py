"""boto3 plumbing shared by the RDS commands.

* Sessions honour the standard AWS environment: profiles (``AWS_PROFILE``), credentials,
  ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and ``AWS_ENDPOINT_URL`` (boto3 reads the latter
  itself), so the same code talks to AWS and to ``moto_server``.
* :meth:`Aws.call` is the one way commands call AWS. botocore's own retries are switched off
  and replaced by ours, so that throttling and transient failures back off with an injectable
  ``sleep`` (tests and benches never really sleep), are counted in the report, and an
  ``AccessDenied`` becomes :class:`MissingPermission` naming the IAM action (``rds:...``).
* :meth:`Aws.forbid_mutations` turns any mutating call into a bug report instead of a change;
  ``--dry-run`` uses it as a second line of defence behind the code paths that skip mutations.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from scripts import __version__
from scripts.errors import ExternalError, InputError

#: Error codes AWS uses for "slow down". Retried with exponential backoff and jitter.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)
#: Server-side hiccups that a retry usually fixes.
TRANSIENT_CODES = frozenset({"InternalError", "InternalFailure", "ServiceUnavailable", "InternalServerError"})
#: The caller lacks an IAM permission (as opposed to bad credentials).
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "NotAuthorized",
        "AuthorizationNotFound",
        "UnauthorizedException",
    }
)
#: The credentials themselves were refused.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    }
)
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)

#: Operation-name prefixes that change something. A bad-input run must make none of them.
MUTATING_PREFIXES = (
    "Add",
    "Apply",
    "Associate",
    "Attach",
    "Authorize",
    "Cancel",
    "Change",
    "Copy",
    "Create",
    "Delete",
    "Deregister",
    "Detach",
    "Disable",
    "Disassociate",
    "Enable",
    "Failover",
    "Import",
    "Modify",
    "Promote",
    "Purge",
    "Put",
    "Reboot",
    "Register",
    "Remove",
    "Reset",
    "Restore",
    "Revoke",
    "Rotate",
    "Start",
    "Stop",
    "Switchover",
    "Tag",
    "Untag",
    "Update",
)

_IAM_PREFIX = {
    "route53": "route53",
    "secretsmanager": "secretsmanager",
    "rds": "rds",
    "ec2": "ec2",
    "kms": "kms",
    "sts": "sts",
    "iam": "iam",
    "cloudwatch": "cloudwatch",
    "ssm": "ssm",
    "s3": "s3",
}

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


def default_session() -> boto3.Session:
    """The session commands use when none is injected: the standard AWS environment.

    Tests replace this function to attach call recorders to every client a command creates.
    """
    return boto3.Session()


def is_mutating(operation_name: str) -> bool:
    return operation_name.startswith(MUTATING_PREFIXES)


def iam_action(service: str, operation_name: str) -> str:
    """The IAM action an API call needs: ``rds`` + ``RestoreDBInstanceToPointInTime``."""
    return f"{_IAM_PREFIX.get(service, service)}:{operation_name}"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or error_code(exc)


class MissingPermission(ExternalError):
    """AWS refused a call for lack of an IAM permission; names the action to grant."""

    def __init__(self, action: str, region: str | None, detail: str, *, principal: str | None = None):
        where = f" in {region}" if region else ""
        who = f" for {principal}" if principal else ""
        super().__init__(
            f"missing IAM permission {action}{where}{who}: {detail}",
            hint=f"grant {action} to the role running this command (docs/runbook-aws.md lists every "
            "permission each command needs), then re-run the same command",
        )
        self.action = action


def validate_region(field: str, region: str) -> str:
    if not _REGION_RE.match(region):
        raise InputError(field, region, "an AWS region name such as us-east-1 or eu-central-1")
    return region


@dataclass
class CallStats:
    calls: int = 0
    throttled_retries: int = 0
    transient_retries: int = 0
    operations: list[str] = field(default_factory=list)


class Aws:
    """Clients per (service, region) from one session, and :meth:`call` with backoff.

    ``session`` defaults to ``boto3.Session()`` (the standard environment). ``sleep`` is used
    for backoff only. ``on_retry(message)`` is told about each backoff (progress line).
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 8,
        base_delay: float = 1.0,
        max_delay: float = 20.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        on_retry: Callable[[str], None] | None = None,
    ):
        self.session = session if session is not None else default_session()
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.on_retry = on_retry
        self.stats = CallStats()
        self._clients: dict[tuple[str, str], BaseClient] = {}
        self._mutations_forbidden: str | None = None
        self._config = Config(
            retries={"total_max_attempts": 1},  # ours, below: counted, injectable sleep
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra=f"idp-dr/{__version__}",
        )

    # -- regions and clients --------------------------------------------------
    def default_region(self) -> str | None:
        return os.environ.get("AWS_REGION") or self.session.region_name

    def resolve_region(self, explicit: str | None, *, field: str = "--region") -> str:
        if explicit:
            return validate_region(field, explicit)
        region = self.default_region()
        if not region:
            raise InputError(
                field,
                None,
                "an AWS region (none given and none configured)",
                hint="pass --region, or set AWS_REGION / a region in your AWS profile",
            )
        return region

    def client(self, service: str, region: str) -> BaseClient:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=region, config=self._config)
        return self._clients[key]

    def forbid_mutations(self, reason: str) -> None:
        self._mutations_forbidden = reason

    # -- calling --------------------------------------------------------------
    def call(self, client: BaseClient, operation: str, **params: Any) -> dict[str, Any]:
        """Call ``operation`` (e.g. ``"DescribeDBInstances"``) with backoff on throttling.

        ClientErrors other than throttling, transient and access-denied are re-raised for the
        caller, which knows what e.g. ``DBInstanceNotFound`` means in its context.
        """
        service = client.meta.service_model.service_name
        region = client.meta.region_name
        if self._mutations_forbidden and is_mutating(operation):
            raise RuntimeError(f"refusing mutating call {operation} ({self._mutations_forbidden})")
        method = getattr(client, _snake(operation))
        attempt = 0
        while True:
            attempt += 1
            self.stats.calls += 1
            self.stats.operations.append(operation)
            try:
                return method(**params)
            except ClientError as exc:
                self._retry_or_raise(exc, service, operation, region, attempt)
            except _CONNECTION_ERRORS as exc:
                if attempt >= min(self.max_attempts, 4):
                    raise ExternalError(
                        f"cannot reach the AWS {service} endpoint in {region}: {exc}",
                        hint="check network access and AWS_ENDPOINT_URL; a regional outage also looks like this",
                    ) from None
                self.stats.transient_retries += 1
                self._backoff(attempt, f"{operation}: {type(exc).__name__}")
            except NoCredentialsError:
                raise ExternalError(
                    "no AWS credentials found",
                    hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run aws sso login)",
                ) from None
            except BotoCoreError as exc:
                raise ExternalError(f"{operation} in {region} failed: {exc}") from None
            except ResponseParserError:
                # Not an AWS error document: a proxy page, or an emulator without this operation.
                raise ExternalError(
                    f"{operation} in {region}: the endpoint answered with something that is not an "
                    "AWS response (unsupported operation or a proxy error page)"
                ) from None

    def _retry_or_raise(self, exc: ClientError, service: str, operation: str, region: str, attempt: int) -> None:
        """Back off and return for a throttled or transient error with attempts left; raise otherwise."""
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ACCESS_DENIED_CODES:
            raise MissingPermission(iam_action(service, operation), region, error_message(exc)) from None
        if code in CREDENTIAL_CODES:
            raise ExternalError(
                f"AWS rejected the credentials calling {operation} in {region}: {code}: {error_message(exc)}",
                hint="refresh your credentials (aws sso login / AWS_PROFILE) and re-run",
            ) from None
        throttled = code in THROTTLING_CODES or status == 429
        transient = code in TRANSIENT_CODES or status in (500, 502, 503, 504)
        if not (throttled or transient):
            raise exc  # the caller knows what e.g. DBInstanceNotFound means in its context
        if attempt >= self.max_attempts:
            raise ExternalError(
                f"{operation} in {region} still failing after {attempt} attempts: {code}: {error_message(exc)}",
                hint="AWS is throttling or unavailable; re-run the same command to resume",
            ) from None
        if throttled:
            self.stats.throttled_retries += 1
        else:
            self.stats.transient_retries += 1
        self._backoff(attempt, f"{operation}: {code}")

    def _backoff(self, attempt: int, why: str) -> None:
        # "Full jitter" (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)],
        # but never below half of it so a retry storm still spreads out.
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        delay = random.uniform(ceiling / 2, ceiling)
        if self.on_retry:
            self.on_retry(f"{why}; retrying in {delay:.1f} s (attempt {attempt + 1}/{self.max_attempts})")
        self.sleep(delay)

    def account_and_principal(self) -> tuple[str, str]:
        """(account id, caller ARN) from sts:GetCallerIdentity (needs no IAM permission)."""
        region = self.default_region() or "us-east-1"
        ident = self.call(self.client("sts", region), "GetCallerIdentity")
        return str(ident["Account"]), str(ident["Arn"])


def _snake(operation: str) -> str:
    # botocore's own xform: DescribeDBInstances -> describe_db_instances
    from botocore import xform_name

    return xform_name(operation)


def tags_dict(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in (tag_list or [])}
