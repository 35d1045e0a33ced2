"""Comparing application versions (the config's Redis rule, a dump's IdP version against the image's)."""

from __future__ import annotations

import re


def version_tuple(text: str | None) -> tuple[int, ...] | None:
    """(major, minor[, patch]) of a version string such as 'v2025.10.2', or None."""
    if not text:
        return None
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(g) for g in match.groups() if g is not None)
