"""Reading a file the operator names on the command line: one place for its refusals.

A missing file, a directory, a device (``/dev/zero`` never ends), a file over the flag's size limit, an
unreadable or a binary file, or text that does not parse or nests too deep is bad input
(``invalid <flag> <value>: <what is allowed>``, exit 2) before anything is contacted, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from scripts.errors import InputError

#: The largest file a flag reads by default (stack outputs, baselines, configs are kilobytes).
MAX_BYTES = 16 << 20


def read_text(
    field: str, path: Path, allowed: str, *, shown: str | None = None, hint: str | None = None, limit: int = MAX_BYTES
) -> str:
    """The file's UTF-8 text, at most ``limit`` bytes; ``allowed`` says what the flag takes (e.g. "a stack config
    file")."""
    value = shown if shown is not None else str(path)
    if not is_regular_file(path):
        raise InputError(field, value, f"{allowed} ({_not_regular(path)})", hint=hint)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InputError(field, value, f"{allowed} (at most {limit} bytes; this one is larger)", hint=hint)
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(field, value, f"{allowed} (this file is not UTF-8 text)", hint=hint) from None
    except OSError as exc:
        raise InputError(field, value, f"{allowed} ({exc.strerror})", hint=hint) from None


def is_regular_file(path: Path) -> bool:
    """``path.is_file()`` that says False for any path the OS refuses to look at (a name over 255 bytes, a NUL
    byte, a loop) instead of raising: a user's path is input, not a reason for a traceback."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _not_regular(path: Path) -> str:
    try:
        return "a directory" if path.is_dir() else "not a regular file" if path.exists() else "no such file"
    except (OSError, ValueError):
        return "no such file"


def read_json(field: str, path: Path, allowed: str, *, shown: str | None = None, hint: str | None = None) -> Any:
    """The file's JSON document."""
    text = read_text(field, path, allowed, shown=shown, hint=hint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        value = shown if shown is not None else str(path)
        raise InputError(field, value, f"{allowed} (not JSON: {exc})", hint=hint) from None
    except RecursionError:
        value = shown if shown is not None else str(path)
        raise InputError(field, value, f"{allowed} (not JSON a reader can hold: nested too deep)", hint=hint) from None


def read_yaml(field: str, path: Path, allowed: str, *, shown: str | None = None, hint: str | None = None) -> Any:
    """The file's YAML document."""
    text = read_text(field, path, allowed, shown=shown, hint=hint)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        value = shown if shown is not None else str(path)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(field, value, f"{allowed} (not YAML: {first})", hint=hint) from None


#: What a URL flag says when it carries credentials (they would end up in reports, logs and history).
NO_USERINFO = (
    "a URL without credentials in it (user:password@ is copied into reports, logs and shell history); "
    "pass secrets through the flag meant for them (a file) or the environment"
)


def mask_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (safe to print)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def check_http_url(field: str, value: str | None, allowed: str) -> str:
    """An http(s) URL without credentials; refused with the credentials masked, never echoed."""
    parts = urlsplit(value or "")
    if "@" in parts.netloc:
        raise InputError(field, mask_userinfo(value or ""), NO_USERINFO)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(field, value, allowed)
    return value or ""
