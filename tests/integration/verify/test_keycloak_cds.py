"""The class-data-sharing recipe of docs/keycloak-image.md on the lab's real Keycloak: a training start records
an archive at exit; a start of the same Keycloak home with ``-Xshare:on`` (the JVM refuses to start when the
archive is unusable) maps it and serves; once the training's jars are gone the archive is refused (it records
their paths, which is why the recipe bakes it into the image the training ran from, where they never change)."""

from __future__ import annotations

import pytest

from scripts.errors import ExternalError

pytestmark = pytest.mark.integration


def test_an_archive_recorded_by_a_training_start_is_mapped_by_the_next_start_of_that_home(keycloak_lab):
    archive = keycloak_lab.workspace / "keycloak.jsa"
    training = keycloak_lab.start_keycloak("cds", extra_env={"JAVA_OPTS_APPEND": f"-XX:ArchiveClassesAtExit={archive}"})
    training.stop()  # SIGTERM: the JVM exits normally and writes the archive
    assert archive.is_file() and archive.stat().st_size > 10 * 2**20
    log = keycloak_lab.workspace / "cds-jvm.log"
    server = keycloak_lab.start_keycloak(
        "cds", extra_env={"JAVA_OPTS_APPEND": f"-XX:SharedArchiveFile={archive} -Xshare:on -Xlog:cds=info:file={log}"}
    )
    try:
        assert server.admin().get_realm("master")["realm"] == "master"
    finally:
        server.stop()
    text = log.read_text()
    assert f"Opened archive {archive}." in text and "Mapped dynamic region" in text

    (keycloak_lab.workspace / "cds").rename(keycloak_lab.workspace / "cds-moved")
    with pytest.raises(ExternalError, match=r"Required classpath entry does not exist: .*Unable to use shared archive"):
        keycloak_lab.start_keycloak(
            "cds-elsewhere", extra_env={"JAVA_OPTS_APPEND": f"-XX:SharedArchiveFile={archive} -Xshare:on"}
        )
