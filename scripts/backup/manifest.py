"""What is documented beside every logical dump, and where dumps live in the archive.

The Keycloak guide's "what to document alongside the backups": where the database was, the key that
encrypts it, the IdP version that wrote it (a newer schema cannot be started by an older IdP), the
PostgreSQL version. ``restore dump`` reads the manifest first and refuses a dump it cannot restore
safely; ``latest`` only ever resolves to a dump whose uploaded object was read back and verified.

Layout (the archive bucket's lifecycle rules expire each tier): ``dumps/<tier>/<database>/<time>.dump``
and ``<time>.manifest.json`` beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from contract.backups import DUMP_PREFIX
from scripts.errors import InputError

FORMAT = "idp-dr-dump"
VERSION = 1
TIERS = ("daily", "weekly", "monthly")
STATUSES = ("verified", "failed")
#: ``restore dump`` comments the database it is filling with this (and the dump's key) until
#: pg_restore has finished; ``backup dump`` refuses such a database, so a half-restored database
#: never becomes a verified dump that ``latest`` would then pick.
RESTORING_MARK = "idp-dr: restore dump in progress"


def tier_for(when: datetime, tier: str) -> str:
    """``auto``: monthly on the 1st, weekly on Sundays, daily otherwise (UTC), as the lifecycle expects."""
    if tier != "auto":
        if tier not in TIERS:
            raise InputError("--tier", tier, f"auto, or one of {', '.join(TIERS)}")
        return tier
    if when.day == 1:
        return "monthly"
    return "weekly" if when.weekday() == 6 else "daily"


def dump_key(tier: str, database: str, when: datetime) -> str:
    """Milliseconds in the name: two dumps in one second (a re-run) never share, or overwrite, a key."""
    return f"{DUMP_PREFIX}/{tier}/{database}/{when.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z.dump"


def manifest_key(key: str) -> str:
    return key.removesuffix(".dump") + ".manifest.json"


@dataclass
class Manifest:
    idp: str
    idp_version: str | None
    database: str
    source_host: str
    source_is_replica: bool
    pg_server_version: str
    pg_server_major: int
    pg_dump_version: str
    key: str
    kms_key_arn: str | None
    size_bytes: int
    sha256: str
    started_at: str
    ended_at: str
    tool_version: str
    status: str
    #: Why a dump failed (pg_dump's exit, the read-back), None when verified.
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, doc: Any, *, source: str) -> Manifest:
        allowed = f"a dump manifest written by 'backup dump' ({FORMAT} v{VERSION})"
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise InputError("--dump", source, allowed)
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names - set(doc) if n != "problem")
        wrong = sorted(n for n, kinds in _KINDS.items() if n in doc and not _is(doc[n], kinds))
        if doc.get("status") not in STATUSES:
            wrong.append("status")
        for stamp in ("started_at", "ended_at"):
            if stamp not in wrong and stamp in doc and _when(doc[stamp]) is None:
                wrong.append(stamp)
        if missing or wrong:
            raise InputError("--dump", source, f"{allowed}; missing or wrong: {', '.join(missing + wrong)}")
        return cls(**{k: v for k, v in doc.items() if k in names})

    @property
    def ended(self) -> datetime:
        when = _when(self.ended_at)
        assert when is not None  # checked by from_dict
        return when


_STR, _OPT_STR = (str,), (str, type(None))
#: Each field's type: a crafted manifest with a list for a time or a string for a size is refused, not guessed.
_KINDS: dict[str, tuple[type, ...]] = {
    "idp": _STR, "idp_version": _OPT_STR, "database": _STR, "source_host": _STR, "source_is_replica": (bool,),
    "pg_server_version": _STR, "pg_server_major": (int,), "pg_dump_version": _STR, "key": _STR,
    "kms_key_arn": _OPT_STR, "size_bytes": (int,), "sha256": _STR, "started_at": _STR, "ended_at": _STR,
    "tool_version": _STR, "status": _STR, "problem": _OPT_STR,
}  # fmt: skip


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _when(text: str) -> datetime | None:
    """A manifest's time (ISO 8601 with a zone), or None when it is not one."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, AttributeError):
        return None
    return when if when.tzinfo is not None else None
