"""The drill's audit of the restore (markers, users, the deleted realm) and its objectives (RPO, RTO)."""

from __future__ import annotations

import psycopg

from scripts.drill.names import REALM
from scripts.drill.workload import MarkerWorkload, classify
from scripts.lab.keycloak import KeycloakServer


class DrillAudit:
    """The audit phases of the local drill (a mixin of :class:`~scripts.drill.base.DrillBase`)."""

    def _check_markers(self, workload: MarkerWorkload, dsn: str) -> None:
        with psycopg.connect(dsn) as conn:
            restored = {row[0] for row in conn.execute("SELECT label FROM idp_dr_drill.markers")}
        verdict = classify(workload.snapshot(), restored, self.target)
        self.report.check(
            "markers.before_target_present",
            not verdict.missing,
            f"{verdict.expected_present - len(verdict.missing)} of {verdict.expected_present} markers committed "
            "before the target are restored",
            missing=verdict.missing[:10],
        )
        self.report.check(
            "markers.after_target_absent",
            not verdict.revived,
            f"{verdict.expected_absent - len(verdict.revived)} of {verdict.expected_absent} markers committed "
            "after the target are absent",
            revived=verdict.revived[:10],
        )

    def _check_users(self, dsn: str) -> None:
        with psycopg.connect(dsn) as conn:
            restored = {
                row[0]
                for row in conn.execute(
                    "SELECT u.username FROM user_entity u JOIN realm r ON r.id = u.realm_id WHERE r.name = %s", (REALM,)
                )
            }
        before = [name for name, at in self.users_written if at < self.target]
        after = [name for name, at in self.users_written if at > self.target]
        missing = [n for n in before if n not in restored]
        revived = [n for n in after if n in restored]
        self.report.check(
            "keycloak.users_before_target_present",
            not missing and bool(before),
            f"{len(before) - len(missing)} of {len(before)} users created before the target exist",
            missing=missing,
        )
        self.report.check(
            "keycloak.users_after_target_absent",
            not revived,
            f"{len(after) - len(revived)} of {len(after)} users created after the target are absent",
            revived=revived,
        )

    def _check_realm_back(self, standby: KeycloakServer) -> None:
        realm = standby.admin().get_realm(REALM)
        self.report.check(
            "disaster.realm_restored",
            realm.get("realm") == REALM,
            f"realm {REALM!r}, deleted after the target, is served again by the standby",
        )

    def _objectives(self, rpo: dict) -> None:
        """Both objectives against the declared targets; ``rpo`` is the method's measurement."""
        opts, report = self.opts, self.report
        rpo_s = rpo.get("rpo_s")
        report.result["rpo"] = rpo
        report.result["rto"] = {k: round(v, 3) for k, v in self.rto.items()}
        report.result["targets"] = {"rpo_s": opts.rpo_target_s, "rto_s": opts.rto_target_s}
        report.check(
            "rpo.within_target",
            rpo_s is not None and rpo_s <= opts.rpo_target_s,
            f"RPO {rpo_s:.1f} s (target {opts.rpo_target_s:.0f} s; {rpo['bounded_by']})"
            if rpo_s is not None
            else "RPO could not be measured",
            rpo_s=rpo_s,
        )
        total = self.rto["total_s"]
        report.check(
            "rto.within_target",
            total <= opts.rto_target_s,
            f"RTO {total:.1f} s from declaration to verified (target {opts.rto_target_s:.0f} s)",
            **{k: round(v, 3) for k, v in self.rto.items()},
        )
