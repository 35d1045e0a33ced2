"""Time parsing and formatting. All times are timezone-aware UTC internally."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scripts.errors import InputError

_ISO_EXAMPLE = "2026-11-23T10:15:00Z"
# Date, 'T' or space, time with optional fraction, then a mandatory zone.
_ISO_WITH_ZONE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    """Render as ISO-8601 UTC with a 'Z' suffix (milliseconds kept when present).

    Sub-millisecond parts are dropped, so ``iso(parse_time(iso(t))) == iso(t)``: a time below one
    millisecond renders without a fraction (not ``.000Z``), as it will after a round trip.
    """
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    if dt.microsecond >= 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(field: str, text: str) -> datetime:
    """Parse an ISO-8601 time that carries an explicit timezone.

    A time without a zone is refused rather than guessed: restoring to a local
    time that was read as UTC silently loses or revives hours of data.
    """
    raw = text.strip() if isinstance(text, str) else text
    if not isinstance(raw, str) or not raw:
        raise InputError(field, text, f"expected an ISO-8601 time with a timezone, e.g. {_ISO_EXAMPLE}")
    if not _ISO_WITH_ZONE.match(raw):
        looks_naive = bool(re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", raw))
        hint = f"add a timezone: '{raw}Z' for UTC, or an offset such as '{raw}+02:00'" if looks_naive else None
        raise InputError(field, text, f"expected an ISO-8601 time with a timezone, e.g. {_ISO_EXAMPLE}", hint=hint)
    normalised = raw.replace(" ", "T", 1)
    if normalised[-1] in "zZ":
        normalised = normalised[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(normalised).astimezone(UTC)
    except ValueError as exc:
        raise InputError(field, text, f"not a real calendar time ({exc}); e.g. {_ISO_EXAMPLE}") from None
    except OverflowError:  # the calendar's edges with an offset (0001-01-01T00:00+01:00) leave datetime's range
        raise InputError(field, text, f"a time between the years 1 and 9999 in UTC; e.g. {_ISO_EXAMPLE}") from None


def format_duration(seconds: float | None) -> str:
    """Human duration: '850 ms', '12.4 s', '3m05s', '1h02m'."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    td = timedelta(seconds=round(seconds))
    hours, rem = divmod(int(td.total_seconds()), 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def parse_iso(text: str | None) -> datetime | None:
    """A time we wrote ourselves (state files, tags), or None when it is absent or unreadable."""
    if not text:
        return None
    try:
        return parse_time("time", text)
    except InputError:
        return None
