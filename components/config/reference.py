"""The configuration reference, generated from the config model's JSON schema.

Each key's meaning is its ``Field(description=...)``; what it accepts is the ``x-allowed`` words
its type carries (the same words a refusal uses). A unit test checks that docs/reference/configuration.md carries
exactly :func:`markdown_table`'s output. Regenerate it with::

    python -m components.config.reference
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from components.config.loading import NAMESPACE, SECRET_KEYS
from components.config.stack import StackConfig

SECRET_DOCS = {
    "dbAppPassword": "the IdP's database password (required). Stored in Secrets Manager, replicated to the DR region.",
    "authentikSecretKey": "authentik's secret key (required for authentik). Replicated; both regions share it.",
    "masterPassword": "RDS master password; only with database.manageMasterPassword: false.",
    "adminPassword": "the IdP's first administrator on the primary site's first start (Keycloak: 'admin' of the "
    "master realm, which Keycloak marks temporary; authentik: akadmin). Ignored once an administrator exists; set "
    "it before the first pulumi up (docs/getting-started-aws.md).",
}

_JSON_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean", "object": "object", "array": "list"}


@dataclass(frozen=True)
class Setting:
    key: str
    type: str
    default: str
    doc: str
    allowed: str


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The stack config's JSON schema, by the keys users write (camelCase)."""
    return StackConfig.model_json_schema(by_alias=True)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return schema()["$defs"][ref.rsplit("/", 1)[-1]]
    return node


def _variants(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property (``X | None`` is an anyOf with null)."""
    options = node.get("anyOf") or [node]
    return [_resolve(o) for o in options if o.get("type") != "null"]


def _type_name(node: dict[str, Any]) -> str:
    names = []
    for variant in _variants(node):
        kind = variant.get("type")
        if kind == "array":
            item = _type_name(variant.get("items", {}))
            names.append(f"list of {item}" if item else "list")
        elif kind == "object" and "properties" not in variant:
            names.append("map of string")
        elif "enum" in variant or "const" in variant:
            names.append(_JSON_TYPES.get(variant.get("type", "string"), "string"))
        else:
            names.append(_JSON_TYPES.get(kind or "", kind or ""))
    return " | ".join(dict.fromkeys(n for n in names if n))


def _default(node: dict[str, Any], required: bool, nested: bool) -> str:
    if required:
        return "required"
    if nested:
        return "optional"
    if "default" not in node or node["default"] is None:
        return "-"
    value = node["default"]
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _allowed(node: dict[str, Any]) -> str:
    if any(v.get("type") == "boolean" for v in _variants(node)):
        return "true or false"
    if node.get("x-allowed"):
        return str(node["x-allowed"])
    for variant in node.get("anyOf") or []:
        if variant.get("x-allowed"):
            return str(variant["x-allowed"])
    return ""


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


def settings(model: dict[str, Any] | None = None, prefix: str = "") -> list[Setting]:
    """Every configurable key, depth first, with its type, default, meaning and what it accepts."""
    model = model if model is not None else schema()
    required = set(model.get("required", []))
    out: list[Setting] = []
    for key, node in model.get("properties", {}).items():
        nested = next((v for v in _variants(node) if "properties" in v), None)
        full = f"{prefix}{key}"
        doc = _one_line(node.get("description") or (nested or {}).get("description"))
        if nested is not None:
            out.append(Setting(full, "object", _default(node, key in required, True), doc, ""))
            out.extend(settings(nested, f"{full}."))
        else:
            out.append(Setting(full, _type_name(node), _default(node, key in required, False), doc, _allowed(node)))
    return out


def _cell(text: str) -> str:
    return re.sub(r"\|", r"\\|", text)


def markdown_table() -> str:
    rows = ["| key | type | default | meaning | allowed |", "| --- | --- | --- | --- | --- |"]
    for s in settings():
        rows.append(
            f"| `{NAMESPACE}:{s.key}` | {_cell(s.type)} | {_cell(s.default)} | {_cell(s.doc)} | {_cell(s.allowed)} |"
        )
    for key in SECRET_KEYS:
        rows.append(f"| `{NAMESPACE}:{key}` | secret | - | {SECRET_DOCS[key]} | a Pulumi secret |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
