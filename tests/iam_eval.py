"""A small evaluator of IAM identity policies, to test a role's conditions by evaluating them, not by reading them.

It implements the parts of the IAM policy evaluation logic (IAM User Guide, "Policy evaluation logic" and
"IAM JSON policy elements: Condition operators") that the program's policies use: an explicit Deny wins,
else an Allow is needed; ``Action``/``NotAction`` match case-insensitively with ``*`` and ``?``;
``Resource``/``NotResource`` match case-sensitively with ``*`` and ``?``; every condition operator in a
statement must hold, every key in an operator must hold, and a key holds when the request's value matches
any of the listed values. A key missing from the request fails positive operators (``StringEquals``,
``StringLike``, ``ArnLike``, ``Bool``) and satisfies negated ones (``StringNotEquals``, ``StringNotLike``);
``Null`` tests presence. No ``...IfExists``, set operators or policy variables: the program uses none, and an
unknown operator is an error here rather than a silent pass. tests/test_iam_eval.py checks these semantics.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    regex = fnmatch.translate(pattern).replace("(?s:", "(?s:" if case else "(?si:", 1)
    return re.match(regex, value) is not None


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _positive(match: Callable[[str, str], bool]) -> Callable[[list[str], str | None], bool]:
    return lambda wanted, actual: actual is not None and any(match(w, actual) for w in wanted)


def _negated(match: Callable[[str, str], bool]) -> Callable[[list[str], str | None], bool]:
    return lambda wanted, actual: actual is None or not any(match(w, actual) for w in wanted)


OPERATORS: dict[str, Callable[[list[str], str | None], bool]] = {
    "StringEquals": _positive(lambda w, a: w == a),
    "StringNotEquals": _negated(lambda w, a: w == a),
    "StringLike": _positive(lambda w, a: _glob(w, a, case=True)),
    "StringNotLike": _negated(lambda w, a: _glob(w, a, case=True)),
    "ArnEquals": _positive(lambda w, a: w == a),
    "ArnLike": _positive(lambda w, a: _glob(w, a, case=True)),
    "Bool": _positive(lambda w, a: w.lower() == a.lower()),
    "Null": lambda wanted, actual: (actual is None) == (wanted[0].lower() == "true"),
}


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, keys in conditions.items():
        if operator not in OPERATORS:
            raise ValueError(f"condition operator {operator} is not implemented by this evaluator")
        for key, wanted in keys.items():
            if not OPERATORS[operator](_listed(wanted), context.get(key)):
                return False
    return True


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        action_ok = any(_glob(p, action, case=False) for p in _listed(statement["Action"]))
    else:
        action_ok = not any(_glob(p, action, case=False) for p in _listed(statement["NotAction"]))
    if "Resource" in statement:
        resource_ok = any(_glob(p, resource, case=True) for p in _listed(statement["Resource"]))
    else:
        resource_ok = not any(_glob(p, resource, case=True) for p in _listed(statement["NotResource"]))
    return action_ok and resource_ok and _conditions_hold(statement.get("Condition", {}), context)


def decide(policy: dict[str, Any], action: str, resource: str, context: dict[str, str] | None = None) -> str:
    """``"allow"``, ``"deny"`` (an explicit Deny matched) or ``"implicit-deny"`` (no Allow matched)."""
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    matched = [s["Effect"] for s in statements if _applies(s, action, resource, context or {})]
    if "Deny" in matched:
        return "deny"
    return "allow" if "Allow" in matched else "implicit-deny"


def allowed(policy: dict[str, Any], action: str, resources: list[str], context: dict[str, str] | None = None) -> bool:
    """A request naming several resources (e.g. a restore: the target, its source, its groups) is allowed
    only when each of them is."""
    return all(decide(policy, action, resource, context) == "allow" for resource in resources)
