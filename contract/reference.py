"""The stack outputs reference (docs/reference/stack-outputs.md), generated from the model.

Regenerate with ``python -m contract.reference``; a unit test keeps the page in sync.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from contract.outputs import StackOutputs


def rows(model: type[BaseModel] = StackOutputs, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, type, required|optional) of every output, nested sections flattened with dots."""
    found: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += rows(annotation, key + ".")
        else:
            text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
            text = re.sub(r"Optional\[(.*)\]", r"\1 | None", text.replace("typing.", ""))
            found.append((key, text, "required" if field.is_required() else "optional"))
    return found


def markdown_table() -> str:
    lines = ["| output | type | |", "| --- | --- | --- |"]
    # A "|" inside a cell would end it: escape it.
    lines += [f"| `{key}` | `{kind}` | {need} |".replace(" | None`", r" \| None`") for key, kind, need in rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
