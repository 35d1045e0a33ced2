"""Secrets Manager: the one place a runbook command reads a JSON secret (and refuses a bad one)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from scripts.aws.client import Aws, error_code
from scripts.errors import ExternalError, InputError


def read_json_secret(aws: Aws, region: str, secret_id: str, *, field: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The secret's JSON object, which must hold ``keys``. ``field`` is the flag that named it."""
    client = aws.client("secretsmanager", region)
    try:
        value = aws.call(client, "GetSecretValue", SecretId=secret_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise InputError(field, secret_id, f"a Secrets Manager secret in {region} (none by that name)") from None
        raise ExternalError(f"reading secret {secret_id} in {region} failed: {exc}") from None
    try:
        document = json.loads(value.get("SecretString") or "")
    except ValueError:
        document = None
    if not isinstance(document, dict) or any(not isinstance(document.get(k), str | int) for k in keys):
        raise InputError(field, secret_id, f"a JSON secret with the keys {', '.join(keys)}")
    return document
