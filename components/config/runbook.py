"""The runbook's own settings: its container image, and the scheduled dumps and baselines it runs."""

from __future__ import annotations

import re

from pydantic import Field

from components.config.rules import Image, checked, int_range
from components.config.sections import Section


def _cron_ok(value: str) -> bool:
    fields = value.split()
    return len(fields) == 5 and all(re.fullmatch(r"[0-9*/,\-]+", f) for f in fields)


class BackupConfig(Section):
    """Scheduled logical dumps (``idp-dr backup dump`` as a CronJob in the primary cluster)."""

    enabled: bool = Field(
        True, description="Run the dump CronJob (needs runbook.image); the dumps go to the archive under dumps/."
    )
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '17 2 * * *' (UTC)") = Field(  # type: ignore[valid-type]
        "17 2 * * *", description="When the dump runs (cron, UTC); monthly on the 1st, weekly on Sundays, else daily."
    )
    deadline_minutes: int_range(10, 1440, unit="minutes") = Field(  # type: ignore[valid-type]
        180, description="A run still going after this is stopped (and the freshness alarm will tell)."
    )


class BaselineConfig(Section):
    """Scheduled baselines (``idp-dr baseline --publish`` as a CronJob in the primary cluster), so drills and
    failovers always have a fresh one in the DR bucket (``--baseline latest``)."""

    enabled: bool = Field(
        True, description="Run the baseline CronJob (needs runbook.image); baselines go to the DR bucket."
    )
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '41 3 * * 1' (UTC)") = Field(  # type: ignore[valid-type]
        "41 3 * * 1", description="When a baseline is taken (cron, UTC); weekly by default, and after a key rotation."
    )


class ChecksConfig(Section):
    """Scheduled checks of the DR paths from the DR side (``idp-dr check replicated-backups`` as a CronJob in
    the DR cluster), each publishing the metric an alarm watches."""

    enabled: bool = Field(True, description="Run the checks CronJob in the DR cluster (needs runbook.image; rds mode).")
    schedule: checked(_cron_ok, "a five-field cron schedule, e.g. '23 * * * *' (UTC)") = Field(  # type: ignore[valid-type]
        "23 * * * *", description="When the checks run (cron, UTC); hourly by default."
    )


class RunbookConfig(Section):
    """The runbook's container image (``Dockerfile`` in this repository): what Jobs of this program run."""

    image: Image | None = Field(
        None,
        description="Pinned runbook image, e.g. ghcr.io/example/idp-dr:0.1.0. With it, pulumi up runs "
        "'idp-dr bootstrap db' as a Job in the primary cluster before the IdP starts (rds mode); without it, "
        "run that command by hand (docs/getting-started-aws.md).",
    )
    backup: BackupConfig = Field(default_factory=BackupConfig, description=BackupConfig.__doc__)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig, description=BaselineConfig.__doc__)
    checks: ChecksConfig = Field(default_factory=ChecksConfig, description=ChecksConfig.__doc__)
