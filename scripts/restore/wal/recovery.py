"""Recovery targets, the restorable window, and the settings written into a restored PGDATA.

Pure logic (no I/O): unit-tested in tests/scripts/wal.

PostgreSQL's stopping rules (PG 15, ``recovery_target_inclusive`` = on, the default):

* time: recovery stops *before* the first commit/abort stamped later than the target; with no
  such record in the archive it reaches the end of WAL and fails ("recovery ended before
  configured recovery target was reached"). So a time target must be earlier than the newest
  commit in the archive, and later than the end of the backup it starts from (before that
  point the data is not consistent).
* xid: stops after the commit of that transaction, which must come after the backup's end.
* name: stops at the restore point, which must come after the backup's end.
* latest (no target): replays everything archived, then promotes.

``recovery_target_action`` defaults to ``pause``; a restore that must end writable sets
``promote``. barman-cloud-restore writes none of this; we do.
"""

from __future__ import annotations

import platform
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from scripts.errors import InputError
from scripts.timeutil import iso, parse_time

TargetKind = Literal["time", "xid", "name", "latest"]
MAX_RESTORE_POINT_NAME = 63  # MAXFNAMELEN - 1
FIRST_NORMAL_XID = 3
TARGET_FLAGS = ("--time", "--xid", "--name", "--latest")
_XID = re.compile(r"^\d{1,20}$")


@dataclass(frozen=True)
class Target:
    """Exactly one recovery target. ``value`` is what the user typed (None for latest)."""

    kind: TargetKind
    value: str | None = None
    time: datetime | None = None
    xid: int | None = None

    @classmethod
    def from_options(
        cls,
        *,
        time: str | None = None,
        xid: str | int | None = None,
        name: str | None = None,
        latest: bool = False,
    ) -> Target:
        given = [flag for flag, v in zip(TARGET_FLAGS, (time, xid, name, latest or None), strict=True) if v is not None]
        if len(given) != 1:
            raise InputError(
                "target",
                " ".join(given) if given else None,
                "exactly one of --time, --xid, --name or --latest",
            )
        if time is not None:
            return cls("time", time, time=parse_time("--time", time))
        if xid is not None:
            text = str(xid).strip()
            if not _XID.match(text) or int(text) < FIRST_NORMAL_XID or int(text) >= 2**64:
                raise InputError(
                    "--xid",
                    xid,
                    f"a transaction id: an integer from {FIRST_NORMAL_XID} "
                    "(e.g. the value of txid_current() in the transaction to keep)",
                )
            return cls("xid", text, xid=int(text))
        if name is not None:
            if not name or len(name.encode()) > MAX_RESTORE_POINT_NAME or "\n" in name:
                raise InputError(
                    "--name",
                    name,
                    f"the name of a restore point (pg_create_restore_point), 1-{MAX_RESTORE_POINT_NAME} bytes",
                )
            return cls("name", name)
        return cls("latest")

    def describe(self) -> str:
        if self.kind == "time":
            return f"time {iso(self.time)}"
        if self.kind == "latest":
            return "latest (end of the archived WAL)"
        return f"{self.kind} {self.value}"

    def settings(self) -> dict[str, str]:
        """The recovery_target_* settings (none for latest)."""
        if self.kind == "time":
            assert self.time is not None
            return {"recovery_target_time": self.time.isoformat(sep=" ")}
        if self.kind == "xid":
            return {"recovery_target_xid": str(self.value)}
        if self.kind == "name":
            return {"recovery_target_name": str(self.value)}
        return {}


@dataclass(frozen=True)
class Window:
    """Restorable window for time targets: (earliest, latest), both exclusive.

    earliest: end of the oldest usable backup (or of the chosen one with --backup-id);
    latest: the newest commit in the archived WAL, read with pg_waldump (precise) or, when no
    commit could be read, the upload time of the newest WAL object (approximate).
    """

    earliest: datetime
    latest: datetime
    earliest_source: str
    latest_source: str

    def describe(self) -> str:
        return f"{iso(self.earliest)} .. {iso(self.latest)}"

    def contains(self, when: datetime) -> bool:
        return self.earliest < when < self.latest

    def to_dict(self) -> dict[str, Any]:
        return {
            "earliest": iso(self.earliest),
            "latest": iso(self.latest),
            "earliest_is": self.earliest_source,
            "latest_is": self.latest_source,
        }


def check_time_in_window(target: Target, window: Window) -> None:
    """InputError naming the window when a time target falls outside it."""
    assert target.time is not None
    if window.contains(target.time):
        return
    side = (
        f"before the {window.earliest_source}"
        if target.time <= window.earliest
        else "not earlier than the newest commit in the archived WAL"
    )
    raise InputError(
        "--time",
        target.value,
        f"{side}; the restorable window is {window.describe()} (exclusive; earliest = "
        f"{window.earliest_source}, latest = {window.latest_source})",
    )


def conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


BEGIN_MARK = "# --- idp-dr restore wal: begin"
END_MARK = "# --- idp-dr restore wal: end"


INIT_SYNC_METHODS = ("fsync", "syncfs")
#: Linux reports write-back errors from syncfs() only from 5.8 on; PostgreSQL's docs say the same.
SYNCFS_SINCE = (5, 8)


def default_init_sync(system: str | None = None, release: str | None = None) -> str:
    """``syncfs`` on Linux 5.8 or newer, else ``fsync`` (PostgreSQL's own default).

    Before recovery PostgreSQL makes every file of the restored PGDATA durable. ``fsync`` opens and
    syncs each file: 0.25 s for the 100 MiB drill's PGDATA and 0.48 s for the 1 GiB one on the build
    machine; ``syncfs`` asks the kernel once per file system (bench.replay_settings).
    """
    system = platform.system() if system is None else system
    release = platform.release() if release is None else release
    found = re.match(r"(\d+)\.(\d+)", release)
    if system == "Linux" and found and (int(found[1]), int(found[2])) >= SYNCFS_SINCE:
        return "syncfs"
    return "fsync"


def render_auto_conf(
    *,
    target: Target,
    restore_command: str,
    archive_command: str | None,
    port: int,
    listen_addresses: str,
    socket_dir: str,
    timeline: str = "latest",
    new_server_name: str | None = None,
    init_sync: str = "fsync",
) -> str:
    """Lines appended to postgresql.auto.conf (read last, so they win over the source's config).

    ``archive_command`` None means ``archive_mode = off``. Otherwise the restored server archives
    under its own server name (never the source's prefix): the source's archive_command came
    back with the backup and is overridden here.
    """
    settings: dict[str, Any] = {"restore_command": restore_command}
    settings.update(target.settings())
    settings["recovery_target_timeline"] = timeline
    settings["recovery_init_sync_method"] = init_sync
    if target.kind != "latest":
        settings["recovery_target_action"] = "promote"
    if archive_command is None:
        settings["archive_mode"] = "off"
        settings["archive_command"] = ""
    else:
        settings["archive_mode"] = "on"
        settings["archive_command"] = archive_command
    settings["port"] = port
    settings["listen_addresses"] = listen_addresses
    settings["unix_socket_directories"] = socket_dir
    lines = [
        BEGIN_MARK,
        f"# target: {target.describe()}"
        + (f"; archives as server {new_server_name!r}" if new_server_name and archive_command else ""),
    ]
    lines += [f"{key} = {conf_value(value)}" for key, value in settings.items()]
    lines.append(END_MARK)
    return "\n".join(lines) + "\n"


#: Settings reset after promotion, so a later crash recovery or standby does not reuse them.
RECOVERY_ONLY_SETTINGS = (
    "restore_command",
    "recovery_target_time",
    "recovery_target_xid",
    "recovery_target_name",
    "recovery_target_action",
    "recovery_target_timeline",
)
#: Reset after promotion too, but only our own line: the source may have chosen its own.
RESTORE_ONLY_SETTINGS = ("recovery_init_sync_method",)


def restore_command_line(script: str) -> str:
    return f"{shlex.quote(script)} %f %p"


def without_recovery_settings(auto_conf: str) -> str:
    """``postgresql.auto.conf`` without the recovery-only settings, for after the promotion.

    :data:`RECOVERY_ONLY_SETTINGS` go wherever they are (a target must never be reused);
    :data:`RESTORE_ONLY_SETTINGS` only from inside our own block, since the source may have set
    them itself and that line came back with the backup.
    """
    keep, ours = [], False
    for line in auto_conf.splitlines():
        ours = (ours or line == BEGIN_MARK) and line != END_MARK
        drop = RECOVERY_ONLY_SETTINGS + (RESTORE_ONLY_SETTINGS if ours else ())
        if not any(line.startswith(f"{s} = ") for s in drop):
            keep.append(line)
    return "\n".join(keep) + "\n"
