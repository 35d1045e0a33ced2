"""The one phrasing of a refused value, used by the stack config and by every runbook command."""

from __future__ import annotations

from typing import Any


def describe_invalid(field: str, value: Any, allowed: str) -> str:
    """``invalid <field> <value!r>: <what is allowed>``: the field, the bad value, what is allowed."""
    return f"invalid {field} {value!r}: {allowed}"
