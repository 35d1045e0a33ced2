"""``recover``'s preflight: everything it checks before the first change, read-only.

A mixin of :class:`scripts.recover.recover.Recover`. On the first run: the stack is an RDS stack, the
primary instance is there and available, the time is inside its restorable window, the names the run
will use are free, the primary site is running (an IdP already at 0 replicas means someone else is
working on it: refused unless ``--force --reason``), and what ``--method repoint`` writes exists. What
it finds is *pinned* in the journal (the instances by their DbiResourceId, which no rename changes), so
a re-run acts on the same instances whatever their names are by then.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from scripts.aws.rds import describe_instance
from scripts.errors import DrError, InputError, RefusedError
from scripts.failover.validation import FailoverValidator
from scripts.lifecycle.record import read_record, topology_store
from scripts.recover.options import TAG_INCIDENT
from scripts.restore.rds.checks import _window_for_instance
from scripts.restore.rds.request import RestoreSpec, check_restore_time
from scripts.timeutil import iso
from scripts.verify import BaselineParams, Target, capture_baseline
from scripts.verify.model import Baseline


class Preflight:
    def preflight(self) -> dict[str, Any]:
        out, pinned = self.out, self.journal.pinned
        if out.database.mode != "rds" or not out.database.primaryInstanceId:
            raise RefusedError(
                "recover swaps RDS instances; this stack's database is self-managed",
                hint="restore a self-managed PostgreSQL with 'idp-dr restore wal' onto its host (docs/restore-wal.md)",
            )
        if pinned.get("damaged_rid"):  # a re-run: the instances are pinned, their names may have changed
            return {"resumed": True, **{k: pinned[k] for k in ("restore_time", "method", "restored", "damaged")}}
        self._not_failed_over()
        source = self._primary_instance()
        window = _window_for_instance(self.aws, out.primaryRegion, source)
        check_restore_time(self.spec(), window, self.clock.now())
        self._names_free()
        replicas = self._site_running()
        if self.o.method == "repoint":
            self._repoint_sink()  # refuses a stack without the primary endpoint secret, before anything changes
        self._baseline_now()
        pinned.update(
            damaged_rid=source["DbiResourceId"],
            original_endpoint=source["Endpoint"]["Address"],
            port=int(source["Endpoint"].get("Port") or out.database.port),
            replicas=replicas,
            restore_time=iso(self.o.time) if self.o.time else "latest",
            method=self.o.method,
            restored=self.names.restored,
            damaged=self.names.damaged,
            incident=self.names.incident,
        )
        return {"window": window.to_dict(), "site_replicas": replicas, "instance": source["DBInstanceIdentifier"]}

    def spec(self) -> RestoreSpec:
        return RestoreSpec(
            source=self.names.original,
            target=self.names.restored,
            restore_time=self.o.time,
            time_text=self.o.time_text,
            region=self.out.primaryRegion,
            poll_interval=self.o.poll_interval,
            timeout_s=self.o.timeout_s,
            extra_tags={TAG_INCIDENT: self.names.incident},
        )

    def _not_failed_over(self) -> None:
        """While a failover is in effect the primary region's instance is the stale one: recovering it is wrong."""
        record = read_record(topology_store(self.out, self.aws))
        if record is not None and record.failed_over:
            raise RefusedError(
                f"a failover is in effect since {record.failed_over_at}: the primary is {record.primary.instance_id} "
                f"in {record.primary.region}, and {self.names.original} in {self.out.primaryRegion} is the "
                "pre-failover database",
                hint="fail back first (idp-dr reprotect, then idp-dr failback); to restore the failed-over primary "
                f"to a point in time, use idp-dr restore rds --region {record.primary.region} --source "
                f"{record.primary.instance_id}",
            )

    def _primary_instance(self) -> dict[str, Any]:
        region, name = self.out.primaryRegion, self.names.original
        source = describe_instance(self.aws, region, name)
        if source is None:
            raise RefusedError(
                f"the primary instance {name} does not exist in {region}",
                hint="is the stack outputs file this stack's? (database.primaryInstanceId)",
            )
        if source.get("DBInstanceStatus") != "available":
            raise RefusedError(
                f"the primary instance {name} is {source.get('DBInstanceStatus')}, not available",
                hint="wait until it is available (a rename or a modification in progress?), then re-run",
            )
        return source

    def _names_free(self) -> None:
        for name in (self.names.restored, self.names.damaged):
            if describe_instance(self.aws, self.out.primaryRegion, name) is not None:
                raise RefusedError(
                    f"an instance named {name} already exists in {self.out.primaryRegion}",
                    hint="left by another recover: find out which (its tags name the incident)",
                )

    def _site_running(self) -> int:
        sb = self.out.standby
        counts = {}
        for name in self.deployments:
            if not self.kube.exists(sb.namespace, "deployment", name):
                raise RefusedError(f"Deployment {sb.namespace}/{name} not found ({self.kube.description})")
            counts[name] = self.kube.deployment_status(sb.namespace, name).replicas
        stopped = [name for name, n in counts.items() if n == 0]
        if stopped and not self.o.force:
            raise RefusedError(
                f"the primary site is not running: {', '.join(stopped)} at 0 replicas ({self.kube.description}); "
                "someone may be working on it",
                hint="find out who; if the site is down for this incident, re-run with --force --reason '<why>'",
            )
        if stopped:
            self.journal.data.setdefault("overridden", []).append(f"site at 0 replicas: {', '.join(stopped)}")
        return max([sb.primaryReplicas, *counts.values()])

    def _repoint_sink(self) -> Any:
        from scripts.k8s.site import EndpointSink

        sb = self.out.standby
        if sb.secretsMode == "external-secrets" and not (sb.primaryDbEndpointSecretArn and sb.externalSecretName):
            raise InputError(
                "--stack-outputs",
                "standby",
                "primaryDbEndpointSecretArn and externalSecretName for --method repoint (outputs of this "
                "version's program: run pulumi up, or use --method swap)",
            )
        return EndpointSink(
            idp=sb.idp,
            namespace=sb.namespace,
            db_secret=sb.dbSecretName,
            secrets_mode=sb.secretsMode,
            endpoint_secret=sb.primaryDbEndpointSecretArn,
            region=self.out.primaryRegion,
            external_secret=sb.externalSecretName,
        )

    def _baseline_now(self) -> None:
        """Without --baseline: a baseline of the site as it is now (issuer, keys), from --primary-base-url,
        so verify can prove the restored site still publishes the keys that signed today's tokens."""
        if isinstance(self.validator, FailoverValidator):
            return
        if not self.o.primary_base_url:
            self.report.notes.append(
                "no baseline: verify checks readiness and issuer only; give --baseline latest, or "
                "--primary-base-url (a port-forward) to take one of the site now"
            )
            return
        issuer_path = urlsplit(self.out.issuer).path
        scope = (
            issuer_path.split("/realms/", 1)[1] if self.out.idp == "keycloak" else issuer_path.strip("/").split("/")[-1]
        )
        target = Target(
            self.out.idp,
            self.o.primary_base_url,
            realm=scope if self.out.idp == "keycloak" else None,
            app=scope if self.out.idp == "authentik" else None,
        )
        try:
            baseline = capture_baseline(BaselineParams(target))
        except DrError as exc:
            self.report.notes.append(
                f"no baseline could be taken from {self.o.primary_base_url} ({exc.message}): "
                "verify checks readiness and issuer only"
            )
            return
        self.journal.pinned["baseline"] = baseline.to_dict()
        self.use_pinned_baseline()

    def use_pinned_baseline(self) -> None:
        """Verify against the baseline preflight took (also on a re-run, which takes none)."""
        doc = self.journal.pinned.get("baseline")
        if doc and not isinstance(self.validator, FailoverValidator):
            baseline = Baseline.from_dict(doc, source="taken by recover's preflight")
            self.validator = FailoverValidator(
                baseline, "the baseline recover's preflight took", base_url=self.o.primary_base_url
            )
