"""bench.keycloak_start reads where a start went from Keycloak's own log lines (copied from a real standby's log)."""

from __future__ import annotations

from bench.keycloak_start import start_phases

START = """\
2026-12-06 22:26:39,113 INFO  [org.infinispan.CONTAINER] (main) ISPN000974: Virtual threads support: disabled
2026-12-06 22:26:40,218 WARN  [org.keycloak.common.Profile] (executor-thread-1) Deprecated features identity-brokering-api:v1, twitter-broker:v1 enabled by default.
2026-12-06 22:26:40,393 INFO  [io.quarkus] (main) Keycloak 26.7.3 on JVM (powered by Quarkus 3.33.3.1) started in 4.683s. Listening on: http://127.0.0.1:35327. Management interface listening on http://127.0.0.1:57655.
2026-12-06 22:26:40,450 INFO  [org.keycloak.quarkus.runtime.storage.database.jpa.DatabaseIndexChecker] (db-index-checker) Running database index checker
2026-12-06 22:26:43,380 INFO  [org.keycloak.services.resources.KeycloakApplication] (executor-thread-1) Bootstrap completed in 3.160000 seconds
"""  # noqa: E501


def test_quarkus_start_keycloak_bootstrap_and_the_wait_after_quarkus_are_read():
    assert start_phases(START) == {"quarkus_s": 4.683, "bootstrap_s": 3.16, "after_quarkus_s": 2.987}


def test_a_home_started_twice_reports_its_last_start():
    second = START.replace("22:26:", "22:30:").replace("4.683s", "2.100s").replace("3.160000", "1.300000")
    second = second.replace("22:30:43,380", "22:30:41,200")
    assert start_phases(START + second) == {"quarkus_s": 2.1, "bootstrap_s": 1.3, "after_quarkus_s": 0.807}


def test_a_log_without_both_lines_says_nothing():
    assert start_phases(START.splitlines()[2]) is None
    assert start_phases("") is None
