"""Where an incident's state lives, and the lock that keeps two operators from running it at once.

By default the state is in the DR bucket (``s3://<drBucket>/idp-dr/runbook/<record>/``), the one
place a regional outage leaves reachable, so a run killed on one laptop resumes from another. Every
write is conditional (S3 ``If-Match``/``If-None-Match``): the lock (``lock.json``) is created only
if absent, and ``state.json`` is replaced only if nobody else wrote it since it was read. A second
``failover`` or ``failback`` on the same record is refused naming who holds it and since when; a
lock whose run is dead is taken over only with ``--force --reason``, and the takeover is recorded.
``--state-dir DIR`` keeps the same files (and the same rules) in a local directory instead.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.errors import ExternalError, InputError, RefusedError

STATE = "state.json"
LOCK = "lock.json"
UNREADABLE = "?"


class Conflict(Exception):
    """A conditional write lost: the object exists (create) or changed (replace)."""


@dataclass
class Holder:
    """Who runs the incident now."""

    by: str
    pid: int
    since: str
    command: str

    @classmethod
    def me(cls, command: str, since: str) -> Holder:
        return cls(f"{getpass.getuser()}@{socket.gethostname()}", os.getpid(), since, command)

    def describe(self) -> str:
        if self.by == UNREADABLE:
            return "an unknown run (its lock.json cannot be read)"
        return f"{self.by} (pid {self.pid}, {self.command}) since {self.since}"


class StateStore:
    """Object operations of one incident's folder; subclasses store them in S3 or in a directory."""

    #: Shown in messages: s3://bucket/prefix/ or a directory path.
    location: str
    #: Where the timeline and postmortem files are written for the operator to read.
    local_dir: Path

    def __init__(self) -> None:
        self._etags: dict[str, str | None] = {}
        self._held: Holder | None = None

    # -- what subclasses provide ----------------------------------------------------------
    def _get(self, name: str) -> tuple[bytes, str] | None:
        raise NotImplementedError

    def _put(self, name: str, body: bytes, *, if_match: str | None, create_only: bool) -> str:
        raise NotImplementedError

    def _delete(self, name: str) -> None:
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------
    def read_state(self) -> tuple[bytes, str] | None:
        found = self._get(STATE)
        self._etags[STATE] = found[1] if found else None
        return found

    def write_state(self, data: dict[str, Any]) -> None:
        body = (json.dumps(data, indent=2, default=str) + "\n").encode()
        etag = self._etags.get(STATE)
        try:
            self._etags[STATE] = self._put(STATE, body, if_match=etag, create_only=etag is None)
        except Conflict:
            raise RefusedError(
                f"the incident's state at {self.location}{STATE} was changed by another run since this one read it",
                hint="another operator is running this incident: check who holds the lock, then re-run to resume",
            ) from None

    def archive_state(self, stamp: str) -> None:
        """A finished incident is kept for the record under another name; the next one starts afresh."""
        found = self._get(STATE)
        if found:
            self._put(f"state-{stamp}.json", found[0], if_match=None, create_only=False)
            self._delete(STATE)
        self._etags[STATE] = None

    # -- the lock -------------------------------------------------------------------------
    def acquire(self, me: Holder, *, force: bool, reason: str | None) -> dict[str, Any] | None:
        """Take the incident's lock; returns the takeover record when a stale lock was taken over."""
        body = json.dumps(me.__dict__).encode()
        try:
            self._etags[LOCK] = self._put(LOCK, body, if_match=None, create_only=True)
            self._held = me
            return None
        except Conflict:
            pass
        found = self._get(LOCK)
        if found is None:  # released between the two calls: try once more
            return self.acquire(me, force=force, reason=reason)
        other = _holder(found[0])
        if not force:
            raise RefusedError(
                f"this incident is being run by {other.describe()} (lock {self.location}{LOCK})",
                hint="wait for that run to finish; if it is dead (its machine or terminal is gone), take over "
                "with --force --reason '<why>'",
            )
        if not reason:
            raise InputError(
                "--reason", None, f"why the lock of {other.describe()} is taken over (required with --force)"
            )
        try:
            self._etags[LOCK] = self._put(LOCK, body, if_match=found[1], create_only=False)
        except Conflict:
            raise RefusedError(
                "someone else took the lock over at the same moment", hint="check who, then re-run"
            ) from None
        self._held = me
        return {"from": other.__dict__, "by": me.by, "at": me.since, "reason": reason}

    def release(self) -> None:
        """Drop the lock if it is still ours (a takeover by someone else is left alone)."""
        if self._held is None:
            return
        found = self._get(LOCK)
        if found and found[1] == self._etags.get(LOCK):
            self._delete(LOCK)
        self._held = None

    def peek_lock(self) -> Holder | None:
        found = self._get(LOCK)
        return _holder(found[0]) if found else None


def _holder(body: bytes) -> Holder:
    try:
        data = json.loads(body)
        return Holder(str(data["by"]), int(data["pid"]), str(data["since"]), str(data["command"]))
    except (ValueError, KeyError, TypeError):
        return Holder(UNREADABLE, 0, "unknown", "unknown")


class LocalStore(StateStore):
    """A directory (``--state-dir``): the same files and the same create-only and compare rules."""

    def __init__(self, directory: Path):
        super().__init__()
        try:
            is_file = directory.exists() and not directory.is_dir()
        except (OSError, ValueError):
            is_file = False
        if is_file:
            raise InputError("--state-dir", str(directory), "a directory for the incident's state (this is a file)")
        _check_writable(directory)
        self.directory = directory
        self.local_dir = directory
        self.location = f"{directory}{os.sep}"

    def _get(self, name: str) -> tuple[bytes, str] | None:
        path = self.directory / name
        if not path.is_file():
            return None
        body = path.read_bytes()
        return body, hashlib.sha256(body).hexdigest()

    def _put(self, name: str, body: bytes, *, if_match: str | None, create_only: bool) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        if create_only:
            try:
                with open(path, "xb") as handle:  # O_EXCL: exactly one creator wins
                    handle.write(body)
            except FileExistsError:
                raise Conflict(name) from None
            return hashlib.sha256(body).hexdigest()
        current = self._get(name)
        if if_match is not None and (current is None or current[1] != if_match):
            raise Conflict(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)
        return hashlib.sha256(body).hexdigest()

    def _delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)


def _check_writable(directory: Path) -> None:
    """An existing ``--state-dir`` must take files (not /proc, not read-only): found now, not at the first save."""
    if "\x00" in str(directory):
        raise InputError("--state-dir", str(directory), "a directory path (this one holds a NUL byte)")
    try:
        if not directory.is_dir():
            return  # created at the first save
        probe = directory / f".idp-dr-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(
            "--state-dir", str(directory), f"a directory this run can write its state into ({reason})"
        ) from None


class S3Store(StateStore):
    """``s3://<bucket>/<prefix>`` in the DR region, written with S3 conditional writes."""

    def __init__(self, aws: Any, bucket: str, region: str, prefix: str, *, local_dir: Path):
        super().__init__()
        self.aws, self.bucket, self.prefix = aws, bucket, prefix
        self.client = aws.client("s3", region)
        self.location = f"s3://{bucket}/{prefix}"
        self.local_dir = local_dir

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        from scripts.aws.client import error_code

        try:
            return self.aws.call(self.client, operation, Bucket=self.bucket, **params)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(params.get("Key")) from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(params.get("Key")) from None
            raise ExternalError(
                f"the incident's state at {self.location} cannot be {operation}: {exc}",
                hint="the runbook's role needs s3:GetObject, s3:PutObject and s3:DeleteObject on that prefix; "
                "or keep the state locally with --state-dir",
            ) from None

    def _get(self, name: str) -> tuple[bytes, str] | None:
        try:
            response = self._call("GetObject", Key=self.prefix + name)
        except FileNotFoundError:
            return None
        return response["Body"].read(), response["ETag"]

    def _put(self, name: str, body: bytes, *, if_match: str | None, create_only: bool) -> str:
        condition = {"IfNoneMatch": "*"} if create_only else ({"IfMatch": if_match} if if_match else {})
        response = self._call(
            "PutObject", Key=self.prefix + name, Body=body, ContentType="application/json", **condition
        )
        return str(response["ETag"])

    def _delete(self, name: str) -> None:
        self._call("DeleteObject", Key=self.prefix + name)
