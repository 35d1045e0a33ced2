"""How ``failover`` and ``failback`` validate a site before traffic goes to it.

Both commands take the same validation flags, named for the site they check:

* no ``--baseline``: the readiness + issuer probe of the site's health hostname
  (:func:`scripts.failover.probe.readiness_validator`);
* ``--baseline FILE``: the full ``verify`` against that baseline (issuer byte for byte, JWKS
  overlapping the baseline, and with ``--client-id``/``--client-secret-file`` a token whose
  signature verifies), see :mod:`scripts.failover.validation`;
* ``--<site>-base-url URL``: where this machine reaches the site's IdP endpoints (JWKS, token),
  default ``<probe-scheme>://<health hostname>``.

Everything here runs before the first AWS call: a bad flag, baseline or secret file is bad input
(exit 2) and nothing is contacted or changed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scripts.errors import InputError
from scripts.failover.probe import Validator, readiness_validator
from scripts.failover.validation import failover_validator

if TYPE_CHECKING:
    from contract.outputs import StackOutputs
    from scripts.report import Report


@dataclass(frozen=True)
class Site:
    """A site as the validation flags name it."""

    #: check-name prefix and flag stem: ``dr`` or ``primary``
    key: str
    #: for messages: ``DR`` or ``primary``
    label: str
    #: the stack output holding the site's health hostname
    health_hostname_output: str
    #: what to run for the database checks, which these commands do not (no database connection)
    db_hint: str

    @property
    def base_url_flag(self) -> str:
        return f"--{self.key}-base-url"

    @property
    def base_url_dest(self) -> str:
        return f"{self.key}_base_url"


DR_SITE = Site(
    "dr",
    "DR",
    "dns.drHealthHostname",
    "after the cut, run 'python -m scripts verify --baseline FILE --db-dsn ...' against the promoted database",
)
PRIMARY_SITE = Site(
    "primary",
    "primary",
    "dns.primaryHealthHostname",
    "run 'python -m scripts verify --baseline FILE --db-dsn ...' against the rebuilt primary database",
)


def add_validation_options(p: argparse.ArgumentParser, site: Site, *, baseline_help: str) -> None:
    """``--baseline``, ``--client-id``, ``--client-secret-file`` and ``--<site>-base-url``."""
    group = p.add_argument_group("validation with verify (see docs/verify.md)")
    group.add_argument("--baseline", default=None, metavar="FILE|latest|s3://...", help=baseline_help)
    group.add_argument(
        "--client-id",
        default=None,
        metavar="ID",
        help="with --baseline: a confidential client allowed client_credentials, for the token checks "
        "(without it they are skipped and reported as skipped)",
    )
    group.add_argument(
        "--client-secret-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --client-id: file holding the client's secret (never on the command line, never printed)",
    )
    group.add_argument(
        site.base_url_flag,
        dest=site.base_url_dest,
        default=None,
        metavar="URL",
        help=f"with --baseline: where this machine reaches the {site.label} IdP's endpoints (JWKS, token), "
        f"e.g. http://127.0.0.1:8080 through a port-forward (default: <probe-scheme>://"
        f"{site.health_hostname_output})",
    )


def check_flags_need_baseline(
    site: Site, baseline: str | None, client_id: str | None, secret_file: Path | None, base_url: str | None
) -> None:
    """Refuse the token and base-URL flags without ``--baseline`` (they would silently do nothing)."""
    if baseline is not None:
        return
    for flag, value in (
        ("--client-id", client_id),
        ("--client-secret-file", secret_file),
        (site.base_url_flag, base_url),
    ):
        if value is not None:
            raise InputError(
                flag,
                str(value),
                "only used with --baseline (the default readiness + issuer probe requests no token "
                f"and probes {site.health_hostname_output})",
            )


def build_validator(
    site: Site,
    *,
    baseline: str | None,
    client_id: str | None,
    secret_file: Path | None,
    base_url: str | None,
    outputs: StackOutputs,
    report: Report,
) -> Validator:
    """The readiness probe, or ``verify`` against the baseline (loaded and checked now).

    Refuses the token and base-URL flags without ``--baseline`` first. The client's secret is
    registered with the report before anything else: masked in every output even if it leaked
    into a message.
    """
    check_flags_need_baseline(site, baseline, client_id, secret_file, base_url)
    if baseline is None:
        return resolve_validator(None)
    client = None
    if client_id is not None or secret_file is not None:
        from scripts.verify.cli_args import client_from_args  # only with --baseline: verify is needed then

        client = client_from_args(argparse.Namespace(client_id=client_id, client_secret_file=secret_file))
        report.register_secret(client.client_secret)
    elif outputs.standby.verifierSecret:
        from scripts.verify.cli_args import client_from_secret

        # The replicated copy in the DR region: what is left when the primary region is gone.
        client = client_from_secret(outputs.standby.verifierSecret, outputs.drRegion, field="--stack-outputs")
        report.register_secret(client.client_secret)
    factory_options: dict[str, Any] = {
        "client": client,
        "outputs": outputs,
        "base_url": base_url,
        "base_url_flag": site.base_url_flag,
        "site_label": site.label,
        "db_hint": site.db_hint,
    }
    return resolve_validator(baseline, **factory_options)


def resolve_validator(baseline: str | None, **factory_options: Any) -> Validator:
    """The readiness probe, or the full ``verify`` when a baseline is given.

    ``factory_options`` (e.g. ``client``, ``outputs``, ``base_url``) go to
    :func:`~scripts.failover.validation.failover_validator`, which loads and checks the baseline
    here, before the failover changes anything: a bad baseline is bad input (exit 2), never a
    failed step.
    """
    if baseline is None:
        return readiness_validator
    return failover_validator(baseline, **factory_options)
