"""Prove a restored identity provider is the same identity provider: ``baseline`` and ``verify``.

Library API (the local drill calls these directly)::

    baseline = capture_baseline(BaselineParams(target, client))   # -> Baseline (save with .save(path))
    verify(VerifyParams(target, client=client), report, baseline)  # fills report.checks

``failover --baseline FILE`` validates the DR site with :func:`failover_validator`
(scripts/verify/failover.py) before it cuts traffic.

See docs/verify.md for the check names and what each proves.
"""

from scripts.verify.core import CHECK_NAMES, adapter_for, capture_baseline, verify
from scripts.verify.failover import CRITICAL_CHECKS, FailoverValidator, failover_validator
from scripts.verify.model import (
    BASELINE_FORMAT,
    BASELINE_VERSION,
    Baseline,
    BaselineParams,
    ClientCredentials,
    DbParams,
    Target,
    VerifyParams,
)

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_VERSION",
    "CHECK_NAMES",
    "CRITICAL_CHECKS",
    "Baseline",
    "BaselineParams",
    "ClientCredentials",
    "DbParams",
    "FailoverValidator",
    "Target",
    "VerifyParams",
    "adapter_for",
    "capture_baseline",
    "failover_validator",
    "verify",
]
