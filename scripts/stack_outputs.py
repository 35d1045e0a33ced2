"""Reading the stack outputs (:class:`contract.outputs.StackOutputs`) for a runbook command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import ValidationError

from contract.outputs import StackOutputs
from scripts.errors import InputError
from scripts.inputs import read_text


def load_stack_outputs(source: str) -> StackOutputs:
    """Read outputs from a file path, or from stdin when ``source`` is '-'.

    Accepts both ``pulumi stack output --json`` (values inline) and
    ``pulumi stack output --json --show-secrets``.
    """
    field = "--stack-outputs"
    if source == "-":
        text = sys.stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(
                field,
                source,
                "expected a readable file (or '-' for stdin)",
                hint="create it with: pulumi stack output --json > outputs.json",
            )
        text = read_text(
            field,
            path,
            "expected a readable file of JSON text (or '-' for stdin)",
            shown=source,
            hint="create it with: pulumi stack output --json > outputs.json",
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(field, source, f"expected JSON from 'pulumi stack output --json' ({exc})") from None
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            field,
            source,
            f"missing or malformed output '{where}' ({first['msg']}); expected the outputs of this project's stack",
            hint="run 'pulumi stack output --json' in the idp-dr project directory",
        ) from None
