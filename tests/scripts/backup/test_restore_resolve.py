"""Which dump ``restore dump`` picks, and that a manifest is trusted only for what it can prove (moto's S3,
in-process; no database is reached: the choice is made before any connection).

A manifest counts only for the dump beside it; its ``ended_at`` counts no later than S3 wrote it; one that does
not parse, is nested too deep or has fields of the wrong type is skipped and reported, never blocking ``latest``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from scripts.backup.manifest import Manifest, dump_key, manifest_key
from scripts.backup.restore import RestoreRequest, _resolve
from scripts.errors import InputError
from scripts.runstate import Journal

BUCKET = "acme-sso-archive"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def _manifest(dump: str, ended: str, **change) -> dict:
    doc = Manifest(
        idp="keycloak", idp_version="26.4.5", database="keycloak", source_host="db", source_is_replica=True,
        pg_server_version="16.4", pg_server_major=16, pg_dump_version="16.4", key=dump, kms_key_arn=None,
        size_bytes=10, sha256="0" * 64, started_at=ended, ended_at=ended, tool_version="0.1.0", status="verified",
    ).to_dict()  # fmt: skip
    return {**doc, **change}


def _put(s3, when: datetime, doc_change=None, raw: bytes | None = None) -> str:
    key = dump_key("daily", "keycloak", when)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 10)
    body = raw if raw is not None else json.dumps(_manifest(key, when.isoformat(), **(doc_change or {}))).encode()
    s3.put_object(Bucket=BUCKET, Key=manifest_key(key), Body=body)
    return key


def _latest(s3) -> tuple[Manifest, list[str]]:
    req = RestoreRequest(bucket=BUCKET, prefix="", dump="latest", before=None, admin_conninfo="", dbname="keycloak")
    return _resolve(req, s3, Journal.in_memory("restore dump", "keycloak"))


def test_latest_is_the_newest_verified_dump(s3):
    _put(s3, datetime(2026, 12, 5, 3, tzinfo=UTC))
    newest = _put(s3, datetime(2026, 12, 6, 3, tzinfo=UTC))
    assert _latest(s3)[0].key == newest


def test_a_manifest_naming_another_dump_is_skipped_and_reported(s3):
    """Asking for X must not restore Y: a manifest counts only for the object beside it."""
    honest = _put(s3, datetime(2026, 12, 5, 3, tzinfo=UTC))
    _put(s3, datetime(2026, 12, 6, 3, tzinfo=UTC), {"key": "dumps/daily/keycloak/elsewhere.dump"})
    manifest, skipped = _latest(s3)
    assert manifest.key == honest
    [why] = skipped
    assert why.endswith("this one names dumps/daily/keycloak/elsewhere.dump")


def test_an_end_time_in_the_year_9999_does_not_win_latest(s3):
    """A claimed time counts no later than S3 wrote the manifest: the crafted one is capped to its LastModified,
    and the dump written after it is latest."""
    crafted = _put(s3, datetime(2026, 12, 5, 3, tzinfo=UTC), {"ended_at": "9999-12-31T23:59:59+00:00"})
    time.sleep(1.1)  # S3's LastModified has one-second resolution
    later = _put(s3, datetime.now(UTC))
    assert _latest(s3)[0].key == later != crafted


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "a dump manifest (JSON, nested no deeper than JSON allows)"),
        (b"[" * 100_000 + b"]" * 100_000, "a dump manifest (JSON, nested no deeper than JSON allows)"),
        (None, "missing or wrong: size_bytes"),
        (None, "missing or wrong: ended_at"),
    ],
    ids=["not-json", "deep", "size-as-text", "time-not-a-time"],
)
def test_a_manifest_that_cannot_be_read_is_skipped_not_blocking(s3, raw, why):
    good = _put(s3, datetime(2026, 12, 5, 3, tzinfo=UTC))
    change = {"size_bytes": "10"} if "size_bytes" in why else {"ended_at": ["2026"]} if "ended_at" in why else None
    _put(s3, datetime(2026, 12, 6, 3, tzinfo=UTC), change, raw=raw)
    manifest, skipped = _latest(s3)
    assert manifest.key == good
    assert len(skipped) == 1 and skipped[0].endswith(why)


def test_with_only_bad_manifests_latest_is_refused_naming_the_first(s3):
    _put(s3, datetime(2026, 12, 6, 3, tzinfo=UTC), raw=b"{not json")
    with pytest.raises(InputError) as caught:
        _latest(s3)
    assert caught.value.message.startswith(
        f"invalid --dump 'latest': a verified dump in s3://{BUCKET}/dumps/ (there is none; 1 manifest(s) skipped: "
    )
