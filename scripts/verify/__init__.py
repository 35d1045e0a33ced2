"""Prove a restored identity provider is the same identity provider: ``baseline`` and ``verify``.

Library API (the local drill calls these directly)::

    baseline = capture_baseline(BaselineParams(target, client))   # -> Baseline (save with .save(path))
    verify(VerifyParams(target, client=client), report, baseline)  # fills report.checks

``failover --baseline FILE`` validates the DR site with
:func:`scripts.failover.validation.failover_validator`, built on these, before it cuts traffic.

Modules: :mod:`~scripts.verify.core` (``verify``, ``capture_baseline``, the check names),
:mod:`~scripts.verify.http_checks` (readiness, discovery, JWKS, token), :mod:`~scripts.verify.db_checks`
(connection, schema, keys, counts, newest event, session hygiene), one adapter per IdP
(:mod:`~scripts.verify.keycloak`, :mod:`~scripts.verify.authentik`), the model and the two commands.

See docs/verify.md for the check names and what each proves.
"""

from scripts.verify.core import CHECK_NAMES, adapter_for, capture_baseline, verify
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
    "Baseline",
    "BaselineParams",
    "ClientCredentials",
    "DbParams",
    "Target",
    "VerifyParams",
    "adapter_for",
    "capture_baseline",
    "verify",
]
