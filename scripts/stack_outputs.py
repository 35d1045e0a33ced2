"""Reading the stack outputs (:class:`contract.outputs.StackOutputs`) for a runbook command."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from contract.outputs import STACK_OUTPUTS_PARAMETER, StackOutputs
from scripts.errors import ExternalError, InputError
from scripts.inputs import MAX_BYTES, is_regular_file, mask_userinfo, read_text


def load_stack_outputs(source: str, *, aws: Any = None) -> StackOutputs:
    """Read outputs from a file path, from stdin when ``source`` is '-', or from the copy the Pulumi
    program keeps in the DR region: ``ssm://<region>/idp-dr/<stack>/stack-outputs``.

    Accepts both ``pulumi stack output --json`` (values inline) and
    ``pulumi stack output --json --show-secrets``.
    """
    field = "--stack-outputs"
    if source.startswith("ssm:"):
        text = _from_ssm(source, aws)
    elif source == "-":
        text = sys.stdin.read(MAX_BYTES + 1)
        if len(text) > MAX_BYTES:
            raise InputError(field, source, f"at most {MAX_BYTES} bytes of JSON on stdin (this is more)")
    else:
        path = Path(source)
        if not is_regular_file(path):
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
    except RecursionError:
        raise InputError(
            field, source, "expected JSON from 'pulumi stack output --json' (this one nests too deep)"
        ) from None
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


_SSM = re.compile(r"ssm://(?P<region>[a-z]{2}(-[a-z]+)+-\d)(?P<name>/[A-Za-z0-9_.\-/]+)")


def _from_ssm(source: str, aws: Any) -> str:
    """The parameter's value; a region or name that is wrong is bad input, AWS down is external."""
    from botocore.exceptions import ClientError

    from scripts.aws.client import Aws, error_code

    match = _SSM.fullmatch(source)
    if not match:
        raise InputError(
            "--stack-outputs",
            mask_userinfo(source),  # an ssm://user:password@… must not be echoed into reports and logs
            "a file, '-', or ssm://<region><parameter>, e.g. ssm://eu-central-1"
            + STACK_OUTPUTS_PARAMETER.format(stack="sso"),
        )
    aws = aws or Aws()
    region, name = match.group("region"), match.group("name")
    try:
        response = aws.call(aws.client("ssm", region), "GetParameter", Name=name)
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            raise InputError(
                "--stack-outputs",
                source,
                f"an SSM parameter in {region} (none by that name)",
                hint="pulumi up writes it in the DR region: " + STACK_OUTPUTS_PARAMETER.format(stack="<idp-dr:name>"),
            ) from None
        raise ExternalError(f"reading {name} in {region} failed: {exc}") from None
    return str(response["Parameter"]["Value"])
