"""Reading the ``idp-dr:*`` keys of a stack and refusing bad ones: every problem, one line each."""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from components.config.rules import allowed_text
from components.config.stack import ConfigValueError, CrossFieldProblems, StackConfig
from contract.messages import describe_invalid

NAMESPACE = "idp-dr"
SECRET_KEYS = ("dbAppPassword", "authentikSecretKey", "masterPassword", "adminPassword")

#: Type errors in plain words (constraint errors use the field's own Allowed words).
_READABLE_TYPES = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object (mapping)",
    "model_type": "an object (mapping)",
    "model_attributes_type": "an object (mapping)",
}


class ConfigError(ValueError):
    """All problems found in the stack config, one ``invalid ...`` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def describe(key: str, value: Any, allowed: str) -> str:
    return describe_invalid(f"{NAMESPACE}:{key}", value, allowed)


def _decode(value: Any) -> Any:
    """Pulumi passes structured config as JSON strings; scalars stay strings."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return value
    return value


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _field_allowed(loc: tuple[Any, ...]) -> str | None:
    """The Allowed words of the field an error's location names (aliases or names, lists skipped)."""
    model: type[BaseModel] | None = StackConfig
    allowed = None
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)),
            None,
        )
        if field is None:
            return None
        allowed = allowed_text(field.annotation) or next((m.text for m in field.metadata if hasattr(m, "text")), None)
        model = _nested_model(field.annotation)
    return allowed


def _format_error(err: Any) -> list[str]:
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, CrossFieldProblems):
        return [describe(p.key, p.value, p.allowed) for p in ctx_error.problems]
    if isinstance(ctx_error, ConfigValueError):
        return [describe(ctx_error.key, ctx_error.value, ctx_error.allowed)]
    key = _key_path(err["loc"])
    value = err.get("input")
    kind = err["type"]
    if kind == "missing":
        return [f"missing required key {NAMESPACE}:{key}"]
    if kind == "extra_forbidden":
        return [f"unknown key {NAMESPACE}:{key}: not a setting of idp-dr (see docs/reference/configuration.md)"]
    if kind == "value_error" and ctx_error is not None:
        return [describe(key, value, str(ctx_error))]
    if kind in _READABLE_TYPES:
        return [describe(key, value, _READABLE_TYPES[kind])]
    return [describe(key, value, _field_allowed(err["loc"]) or err["msg"])]


def load_stack_config(raw: dict[str, Any], secret_keys: set[str] | None = None) -> StackConfig:
    """Validate the ``idp-dr:*`` entries of a stack's config.

    ``raw`` maps full keys (``idp-dr:database``) to values as Pulumi provides
    them (strings, JSON strings for objects). Secret values are only checked
    for presence; they are read later as Pulumi secrets.
    """
    data: dict[str, Any] = {}
    present: set[str] = set()
    problems: list[str] = []
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        if key in SECRET_KEYS:
            if value not in (None, ""):
                present.add(key)
            if secret_keys is not None and full_key not in secret_keys and value not in (None, ""):
                problems.append(
                    f"invalid {full_key}: must be stored as a secret "
                    f"('pulumi config set --secret {full_key} ...'), not in plain text"
                )
            continue
        data[key] = _decode(value)
    if problems:
        raise ConfigError(problems)
    data["secretsPresent"] = frozenset(present)
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([line for e in exc.errors(include_url=False) for line in _format_error(e)]) from None


def read_pulumi_config() -> tuple[dict[str, Any], set[str]]:
    """All config of the running stack, and which keys are secrets (as the engine passed them)."""
    from pulumi.runtime import config as runtime_config

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {key for key in raw if runtime_config.is_config_secret(key)}
    return raw, secret_keys
