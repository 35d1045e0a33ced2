"""What a barman-cloud archive holds: backups, WAL per timeline, history files.

Read with boto3 directly (one LIST for WAL, one GET per backup.info) rather than
``barman-cloud-backup-list``: each barman-cloud call costs ~0.35 s of Python
start-up here, and this runs before every restore and every dry run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from scripts.errors import ExternalError, InputError
from scripts.wal.fetch import decompressor, fetch_raw
from scripts.wal.location import ArchiveLocation, s3_call

SEGMENT_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
HISTORY_RE = re.compile(r"^([0-9A-F]{8})\.history$")
#: Suffixes barman-cloud-wal-archive appends, and the codec each needs.
COMPRESSION_SUFFIXES = {
    ".gz": "gzip",
    ".bz2": "bzip2",
    ".xz": "xz",
    ".snappy": "snappy",
    ".zst": "zstd",
    ".lz4": "lz4",
}
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class WalObject:
    """One archived file: a segment (maybe .partial), a .history file or a .backup label."""

    key: str
    name: str  # the file name PostgreSQL asks for (no compression suffix, no .partial)
    size: int
    last_modified: datetime
    compression: str | None = None
    partial: bool = False

    @property
    def timeline(self) -> int:
        return int(self.name[:8], 16)

    @property
    def is_segment(self) -> bool:
        return bool(SEGMENT_RE.match(self.name))

    @property
    def is_history(self) -> bool:
        return bool(HISTORY_RE.match(self.name))


@dataclass(frozen=True)
class Backup:
    """One barman-cloud base backup, from its backup.info."""

    backup_id: str
    status: str
    begin_time: datetime | None
    end_time: datetime | None
    begin_wal: str | None
    end_wal: str | None
    begin_xlog: str | None
    end_xlog: str | None
    timeline: int | None
    name: str | None = None
    size: int | None = None
    info: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def usable(self) -> bool:
        return self.status == "DONE" and self.end_time is not None and self.begin_wal is not None

    def summary(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "status": self.status,
            "name": self.name,
            "end_time": self.end_time,
            "begin_wal": self.begin_wal,
            "end_wal": self.end_wal,
            "timeline": self.timeline,
        }


def split_wal_key(key: str, size: int, last_modified: datetime) -> WalObject | None:
    """Classify an object key under ``.../wals/``; None for anything that is not WAL."""
    base = key.rsplit("/", 1)[-1]
    compression = None
    for suffix, codec in COMPRESSION_SUFFIXES.items():
        if base.endswith(suffix):
            base, compression = base[: -len(suffix)], codec
            break
    partial = base.endswith(".partial")
    if partial:
        base = base[: -len(".partial")]
    if not (SEGMENT_RE.match(base) or HISTORY_RE.match(base)):
        return None  # .backup labels and anything foreign
    return WalObject(key, base, size, last_modified, compression, partial)


def parse_backup_info(text: str) -> dict[str, str]:
    """backup.info is ``key=value`` lines (barman's BackupInfo serialisation)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _time(value: str | None) -> datetime | None:
    if not value or value == "None":
        return None
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _none(value: str | None) -> str | None:
    return None if value in (None, "", "None") else value


def backup_from_info(backup_id: str, info: dict[str, str]) -> Backup:
    size = _none(info.get("size"))
    return Backup(
        backup_id=backup_id,
        status=info.get("status", "UNKNOWN"),
        begin_time=_time(info.get("begin_time")),
        end_time=_time(info.get("end_time")),
        begin_wal=_none(info.get("begin_wal")),
        end_wal=_none(info.get("end_wal")),
        begin_xlog=_none(info.get("begin_xlog")),
        end_xlog=_none(info.get("end_xlog")),
        timeline=int(info["timeline"]) if _none(info.get("timeline")) else None,
        name=_none(info.get("backup_name")),
        size=int(size) if size and size.isdigit() else None,
        info=info,
    )


def check_bucket(location: ArchiveLocation) -> None:
    """InputError when the bucket does not exist; ExternalError when S3 cannot be reached."""
    s3 = location.client()
    try:
        s3_call(location, f"HEAD bucket {location.bucket}", s3.head_bucket, Bucket=location.bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            where = location.endpoint_url or "AWS S3"
            raise InputError(
                "--archive", location.url, f"bucket '{location.bucket}' does not exist at {where}"
            ) from None
        if code in ("403", "AccessDenied"):
            raise ExternalError(
                f"access denied to bucket '{location.bucket}'",
                hint="the credentials need s3:ListBucket and s3:GetObject on the archive",
            ) from None
        raise ExternalError(f"S3 error on bucket '{location.bucket}': {code}") from None


def list_objects(location: ArchiveLocation, prefix: str) -> list[dict[str, Any]]:
    s3 = location.client()
    paginator = s3.get_paginator("list_objects_v2")
    out: list[dict[str, Any]] = []

    def run() -> None:
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
            out.extend(page.get("Contents", []))

    s3_call(location, f"LIST s3://{location.bucket}/{prefix}", run)
    return out


def list_backup_ids(location: ArchiveLocation) -> list[str]:
    ids = set()
    for obj in list_objects(location, location.base_prefix):
        rest = obj["Key"][len(location.base_prefix) :]
        if "/" in rest:
            ids.add(rest.split("/", 1)[0])
    return sorted(ids)


def list_server_names(location: ArchiveLocation) -> list[str]:
    """Server names with at least one backup.info under the archive prefix."""
    s3 = location.client()
    root = f"{location.prefix}/" if location.prefix else ""
    names = []
    page = s3_call(location, "LIST servers", s3.list_objects_v2, Bucket=location.bucket, Prefix=root, Delimiter="/")
    for common in page.get("CommonPrefixes", []):
        name = common["Prefix"][len(root) :].rstrip("/")
        sub = s3_call(
            location,
            "LIST backups",
            s3.list_objects_v2,
            Bucket=location.bucket,
            Prefix=f"{root}{name}/base/",
            MaxKeys=1,
        )
        if sub.get("KeyCount", 0):
            names.append(name)
    return sorted(names)


@dataclass
class Catalog:
    """Everything in one server's archive that a restore needs, from one listing."""

    location: ArchiveLocation
    backups: list[Backup]
    wal: list[WalObject]

    @classmethod
    def load(cls, location: ArchiveLocation) -> Catalog:
        objects = list_objects(location, location.server_prefix)
        s3 = location.client()
        backups: list[Backup] = []
        wal: list[WalObject] = []
        for obj in objects:
            rest = obj["Key"][len(location.server_prefix) :]
            if rest.startswith("base/") and rest.endswith("/backup.info") and rest.count("/") == 2:
                backup_id = rest.split("/")[1]
                body = (
                    s3_call(location, "GET backup.info", s3.get_object, Bucket=location.bucket, Key=obj["Key"])["Body"]
                    .read()
                    .decode("utf-8", "replace")
                )
                backups.append(backup_from_info(backup_id, parse_backup_info(body)))
            elif rest.startswith("wals/"):
                item = split_wal_key(obj["Key"], int(obj["Size"]), obj["LastModified"])
                if item is not None:
                    wal.append(item)
        backups.sort(key=lambda b: (b.end_time or datetime.min.replace(tzinfo=UTC), b.backup_id))
        wal.sort(key=lambda w: (w.name, w.partial))
        return cls(location, backups, wal)

    @property
    def usable_backups(self) -> list[Backup]:
        return [b for b in self.backups if b.usable]

    def segments(self) -> dict[str, WalObject]:
        """Segment name -> object; a complete segment wins over a .partial of the same name."""
        out: dict[str, WalObject] = {}
        for item in self.wal:
            if item.is_segment and (item.name not in out or out[item.name].partial):
                out[item.name] = item
        return out

    def history_files(self) -> dict[int, WalObject]:
        return {item.timeline: item for item in self.wal if item.is_history}

    def newest_timeline(self) -> int:
        tlis = [w.timeline for w in self.wal]
        return max(tlis) if tlis else 1


def segment_name(timeline: int, segno: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per_id = 0x100000000 // segment_size
    return f"{timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"


def segment_number(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    return int(name[8:16], 16) * (0x100000000 // segment_size) + int(name[16:24], 16)


def lsn_segment(lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    return lsn // segment_size


def lsn_to_int(lsn: str) -> int:
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def parse_history(text: str) -> list[tuple[int, int]]:
    """Timeline history: [(parent timeline, switch LSN as int)], oldest first."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and "/" in parts[1]:
            out.append((int(parts[0]), lsn_to_int(parts[1])))
    return out


@dataclass
class ReplayPlan:
    """The WAL a restore from ``backup`` will replay, in order, on the path to ``target_timeline``."""

    backup: Backup
    target_timeline: int
    history: list[WalObject]
    segments: list[WalObject]
    gap_after: str | None = None  # last segment before a hole in the archive (later WAL is unreachable)
    #: The first segment missing from the archive (at a hole, or before the backup is consistent).
    missing: str | None = None
    #: Archived segments after the hole: WAL that exists but cannot be replayed from this backup.
    beyond_gap: list[WalObject] = field(default_factory=list)

    @property
    def reaches_backup_end(self) -> bool:
        """The WAL the backup itself needs (begin_wal..end_wal) is all there: it can become consistent."""
        end = self.backup.end_wal
        return bool(self.segments) and (end is None or self.segments[-1].name[8:] >= end[8:])

    @property
    def objects(self) -> list[WalObject]:
        return [*self.history, *self.segments]

    @property
    def last_segment(self) -> WalObject | None:
        return self.segments[-1] if self.segments else None

    @property
    def bytes(self) -> int:
        return sum(s.size for s in self.segments)


def timeline_path(catalog: Catalog, backup_timeline: int, segment_size: int) -> tuple[int, list[tuple[int, int]]]:
    """(target timeline, [(timeline, first segment number on it)]) as PostgreSQL would follow it.

    recovery_target_timeline = 'latest': the newest timeline in the archive whose history descends
    from the backup's timeline. History files are tiny; only the candidate's is read.
    """
    histories = catalog.history_files()
    s3 = catalog.location.client()
    for tli in sorted(histories, reverse=True):
        if tli <= backup_timeline:
            break
        body = fetch_raw(catalog.location, histories[tli].key, "GET history", s3)
        if histories[tli].compression:
            decompress = decompressor(histories[tli].compression)
            body = decompress(body) if decompress else b""
        entries = parse_history(body.decode("utf-8", "replace"))
        if backup_timeline not in [parent for parent, _ in entries]:
            continue
        path: list[tuple[int, int]] = []
        begin = 0
        for parent, switch in entries:
            if parent >= backup_timeline:
                path.append((parent, begin))
            begin = switch // segment_size
        path.append((tli, begin))
        return tli, path
    return backup_timeline, [(backup_timeline, 0)]


def replay_plan(catalog: Catalog, backup: Backup) -> ReplayPlan:
    """Segments from the backup's first WAL to the end of the contiguous archive."""
    segment_size = int(backup.info.get("xlog_segment_size") or DEFAULT_SEGMENT_SIZE)
    assert backup.begin_wal is not None
    backup_tli = backup.timeline or int(backup.begin_wal[:8], 16)
    target_tli, path = timeline_path(catalog, backup_tli, segment_size)
    segments = catalog.segments()
    by_number: dict[tuple[int, int], WalObject] = {
        (obj.timeline, segment_number(name, segment_size)): obj for name, obj in segments.items()
    }
    max_segno = max((n for (_, n) in by_number), default=-1)
    history = [h for tli, h in sorted(catalog.history_files().items()) if tli <= target_tli]
    plan: list[WalObject] = []
    gap_after = missing = None
    beyond: list[WalObject] = []
    segno = segment_number(backup.begin_wal, segment_size)
    while segno <= max_segno:
        found = None
        for tli, first in sorted(path, reverse=True):
            if first <= segno and (tli, segno) in by_number:
                found = by_number[(tli, segno)]
                break
        if found is None:
            later = sorted((n, obj) for (_, n), obj in by_number.items() if n > segno)
            if later:
                missing = segment_name(_timeline_at(path, segno), segno, segment_size)
                gap_after = plan[-1].name if plan else None
                beyond = [obj for _, obj in later]
            break
        plan.append(found)
        if found.partial:
            break  # a .partial ends its timeline's WAL
        segno += 1
    if not plan:
        missing = backup.begin_wal
    return ReplayPlan(backup, target_tli, history, plan, gap_after, missing, beyond)


def _timeline_at(path: list[tuple[int, int]], segno: int) -> int:
    """The timeline PostgreSQL reads segment ``segno`` from, following the history path."""
    return max((tli for tli, first in path if first <= segno), default=path[0][0])
