"""The configuration reference, generated from :mod:`components.config` itself.

Each setting's documentation is the ``#:`` comment above its field (as Sphinx
reads it), so the README table cannot drift from the code: a unit test checks
that the README carries exactly :func:`markdown_table`'s output.
"""

from __future__ import annotations

import ast
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from components.config import NAMESPACE, SECRET_KEYS, StackConfig

SECRET_DOCS = {
    "dbAppPassword": "the IdP's database password (required). Stored in Secrets Manager, replicated to the DR region.",
    "authentikSecretKey": "authentik's secret key (required for authentik). Replicated; both regions share it.",
    "masterPassword": "RDS master password; only with database.manageMasterPassword: false.",
}


@dataclass(frozen=True)
class Setting:
    key: str
    type: str
    default: str
    doc: str


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """``#:`` comment lines directly above each annotated field of a class."""
    source_lines, _ = inspect.getsourcelines(model)
    tree = ast.parse(inspect.getsource(model))
    comments: dict[str, str] = {}
    class_node = tree.body[0]
    assert isinstance(class_node, ast.ClassDef)
    for node in class_node.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            lines: list[str] = []
            index = node.lineno - 2
            while index >= 0 and source_lines[index].strip().startswith("#:"):
                lines.insert(0, source_lines[index].strip()[2:].strip())
                index -= 1
            comments[node.target.id] = " ".join(lines)
    return comments


def _own_doc(model: type[BaseModel]) -> str:
    """The model's own docstring (not BaseModel's), first paragraph, one line."""
    doc = model.__dict__.get("__doc__") or ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


PLAIN_TYPES = {"str": "string", "int": "integer", "bool": "boolean"}


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin in (list, tuple, frozenset, set):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "map of string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    name = getattr(annotation, "__name__", str(annotation))
    return PLAIN_TYPES.get(name, name)


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(see below)"
        return "[]" if isinstance(value, list) else "{}" if isinstance(value, dict) else repr(value)
    if field.default is None:
        return "-"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return str(field.default)


def settings(model: type[BaseModel] = StackConfig, prefix: str = "") -> list[Setting]:
    """Every configurable key, depth first, with its type, default and documentation."""
    out: list[Setting] = []
    comments = _field_comments(model)
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{to_camel(name)}"
        annotation = field.annotation
        nested = next(
            (a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)),
            None,
        )
        doc = comments.get(name, "")
        if nested is not None:
            out.append(
                Setting(key, "object", "required" if field.is_required() else "optional", doc or _own_doc(nested))
            )
            out.extend(settings(nested, f"{key}."))
        else:
            out.append(Setting(key, _type_name(annotation), _default(field), doc))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    rows = ["| key | type | default | meaning and allowed values |", "| --- | --- | --- | --- |"]
    for setting in settings():
        rows.append(
            f"| `{NAMESPACE}:{setting.key}` | {_cell(setting.type)} | {_cell(setting.default)} | {_cell(setting.doc)} |"
        )
    for key in SECRET_KEYS:
        rows.append(f"| `{NAMESPACE}:{key}` | secret | - | {SECRET_DOCS[key]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    # Regenerate the README table: python -m components.config_reference
    print(markdown_table())
