"""The DR region's keys, usable: a key scheduled for deletion or disabled makes what it encrypts unrestorable.

The replicated automated backups, the DR read replica and the DR copy of the archive are encrypted with
customer-managed keys in the DR region. KMS waits 7 to 30 days before deleting a key: this check, run
hourly, turns that window into an alarm. It calls ``kms:DescribeKey`` only.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from contract.outputs import StackOutputs
from scripts.aws.client import Aws, error_code
from scripts.report import Report


def dr_key_arns(outputs: StackOutputs) -> list[str]:
    """The stack's DR-region keys named in its outputs (the database's DR key, the DR bucket's key)."""
    found = [outputs.database.drKmsKeyArn, outputs.archive.drKmsKeyArn]
    return list(dict.fromkeys(arn for arn in found if arn))


def check_dr_keys(outputs: StackOutputs, report: Report, *, aws: Aws) -> int:
    """One check per key; returns how many are not usable."""
    kms = aws.client("kms", outputs.drRegion)
    unusable = 0
    for arn in dr_key_arns(outputs):
        state, detail = _state(aws, kms, arn)
        ok = state == "Enabled"
        unusable += 0 if ok else 1
        message = f"{arn} is {state}" + (f" ({detail})" if detail else "")
        if not ok:
            message += ": what it encrypts in the DR region cannot be restored once it is gone"
        report.check(f"dr_keys.{arn.rsplit('/', 1)[-1]}", ok, message, key=arn, state=state)
    return unusable


def _state(aws: Aws, kms: Any, arn: str) -> tuple[str, str | None]:
    try:
        meta = aws.call(kms, "DescribeKey", KeyId=arn)["KeyMetadata"]
    except ClientError as exc:
        return "unreadable", error_code(exc)
    detail = None
    if meta.get("KeyState") == "PendingDeletion" and meta.get("DeletionDate"):
        detail = f"deleted on {meta['DeletionDate']:%Y-%m-%d}; cancel with aws kms cancel-key-deletion"
    return str(meta.get("KeyState")), detail
