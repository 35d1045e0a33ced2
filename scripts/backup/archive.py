"""The archive as the dump commands see it: one place that turns S3's failures into the usual errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from scripts.errors import ExternalError, InputError

_MISSING_BUCKET = ("NoSuchBucket", "404")


@contextmanager
def archive_errors(url: str, endpoint: str | None) -> Iterator[None]:
    """A missing bucket is bad input (``--archive``); an unreachable store, missing credentials or a
    refused call are external failures naming what to check. Never a traceback."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISSING_BUCKET:
            raise InputError("--archive", url, "an existing bucket (none by that name)") from None
        raise ExternalError(
            f"the archive {url} refused the call: {code or exc}",
            hint="the role needs s3:PutObject/GetObject under dumps/ (and ListBucket to find 'latest')",
        ) from None
    except S3UploadFailedError as exc:
        if "NoSuchBucket" in str(exc):
            raise InputError("--archive", url, "an existing bucket (none by that name)") from None
        raise ExternalError(f"the upload to {url} failed: {exc}") from None
    except (EndpointConnectionError, ConnectTimeoutError):
        where = endpoint or "the default AWS S3 endpoint"
        raise ExternalError(
            f"cannot reach the S3 endpoint {where}", hint="check --endpoint-url and the network"
        ) from None
    except NoCredentialsError:
        raise ExternalError("no AWS credentials found", hint="set AWS_PROFILE or run with an instance role") from None


def check_bucket(s3: Any, bucket: str) -> None:
    """Before anything is dumped or dropped: the bucket is there and reachable."""
    s3.head_bucket(Bucket=bucket)
