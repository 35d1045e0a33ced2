"""Where a barman-cloud archive lives: ``s3://bucket/prefix``, a server name and an endpoint.

barman-cloud's layout under ``s3://bucket/prefix/<server-name>/``::

    base/<backup-id>/backup.info      one per base backup (status, begin/end WAL, end time)
    base/<backup-id>/data.tar[.gz]    the data directory
    wals/<TTTTTTTTLLLLLLLL>/<segment>[.gz|.bz2|.xz|.snappy|.zst|.lz4|.partial]
    wals/<TTTTTTTT>.history           timeline history files
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, NoCredentialsError

from scripts.errors import ExternalError, InputError
from scripts.inputs import check_http_url

_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")

ARCHIVE_URL_ALLOWED = "an S3 URL such as s3://bucket/prefix (lower-case bucket name, optional prefix)"
SERVER_NAME_ALLOWED = "1-128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"


def parse_archive_url(value: str, field: str = "--archive") -> tuple[str, str]:
    """Split ``s3://bucket/prefix`` into (bucket, prefix without slashes at either end)."""
    match = _S3_URL.match(value or "")
    if not match:
        raise InputError(field, value, ARCHIVE_URL_ALLOWED)
    prefix = (match.group("prefix") or "").strip("/")
    if "//" in prefix:
        raise InputError(field, value, ARCHIVE_URL_ALLOWED)
    if any(part in (".", "..") for part in prefix.split("/")):
        # S3 keeps '..' literally, but a prefix that reads like a path escape is a mistake or worse.
        raise InputError(field, value, ARCHIVE_URL_ALLOWED + " without '.' or '..' segments")
    return match.group("bucket"), prefix


def check_server_name(value: str, field: str = "--server-name") -> str:
    if not _SERVER_NAME.match(value or ""):
        raise InputError(field, value, SERVER_NAME_ALLOWED)
    return value


@dataclass(frozen=True)
class ArchiveLocation:
    """One server's archive. Credentials come from the standard AWS chain (env, profile, role)."""

    bucket: str
    prefix: str
    server_name: str
    endpoint_url: str | None = None

    @classmethod
    def parse(cls, url: str, server_name: str, endpoint_url: str | None = None) -> ArchiveLocation:
        bucket, prefix = parse_archive_url(url)
        if endpoint_url:
            check_http_url("--endpoint-url", endpoint_url, "an http:// or https:// S3 endpoint URL")
        return cls(bucket, prefix, check_server_name(server_name), endpoint_url or None)

    def with_server(self, server_name: str) -> ArchiveLocation:
        return ArchiveLocation(self.bucket, self.prefix, server_name, self.endpoint_url)

    @property
    def url(self) -> str:
        """The ``source_url`` barman-cloud takes (without the server name)."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def server_prefix(self) -> str:
        """Object key prefix of this server, ending with '/'."""
        return f"{self.prefix}/{self.server_name}/" if self.prefix else f"{self.server_name}/"

    @property
    def base_prefix(self) -> str:
        return self.server_prefix + "base/"

    @property
    def wals_prefix(self) -> str:
        return self.server_prefix + "wals/"

    def display(self) -> str:
        return f"{self.url}/{self.server_name}"

    def barman_args(self) -> list[str]:
        """Options every barman-cloud command takes for this location (before the positionals)."""
        return ["--endpoint-url", self.endpoint_url] if self.endpoint_url else []

    @cached_property
    def _client(self) -> Any:
        return s3_client(self.endpoint_url)

    def client(self) -> Any:
        return self._client


def s3_client(endpoint_url: str | None, *, max_pool: int = 16, connect_timeout: float = 5, attempts: int = 3) -> Any:
    """A boto3 S3 client (thread-safe) with short connect timeouts: fail fast on a wrong endpoint."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        config=Config(
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=60,
            max_pool_connections=max_pool,
            s3={"addressing_style": "path"} if endpoint_url else {},
        ),
    )


def s3_call(location: ArchiveLocation, what: str, fn, *args, **kwargs):
    """Run one S3 call, turning connection and auth failures into operator-facing errors."""
    try:
        return fn(*args, **kwargs)
    except (EndpointConnectionError, ConnectTimeoutError):
        endpoint = location.endpoint_url or "the default AWS S3 endpoint"
        raise ExternalError(
            f"cannot reach the S3 endpoint {endpoint} ({what})",
            hint="check --endpoint-url, the network path and any proxy settings",
        ) from None
    except NoCredentialsError:
        raise ExternalError(
            f"no AWS credentials found ({what})",
            hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance role",
        ) from None
