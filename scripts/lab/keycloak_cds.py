"""A class-data-sharing (AppCDS) archive of the lab's Keycloak build: the standby starts in about half the time.

Most of Keycloak's start is the JVM loading and verifying the same tens of thousands of classes every time.
A dynamic CDS archive (``-XX:ArchiveClassesAtExit``, JDK 13+) records them once, at the exit of a
*training* start; later starts map it (``-XX:SharedArchiveFile``) instead of loading those classes again.
The archive is only valid for the exact JDK and Keycloak build it was made with: it is cached beside the
build under a key of both, and used with ``-Xshare:auto``, so a mismatch falls back to a normal start rather
than failing one.

The training start runs against a throwaway PostgreSQL database (a real start: the same classes as the
drill's): :func:`scripts.lab.keycloak.ensure_cds_archive`, which ``python -m scripts.lab.keycloak prepare``
runs once after the build. The drill and the benchmarks use the archive when it is there. The recipe for a
production image with the same gain is in docs/keycloak-image.md.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from scripts.lab.keycloak_dist import KeycloakBuild, cache_dir


def java_identity() -> str:
    """``java -version`` of the JVM Keycloak runs on (an archive is valid for that JVM only)."""
    java = shutil.which("java") or "java"
    proc = subprocess.run([java, "-Xshare:off", "-version"], capture_output=True, text=True, check=False)
    return (proc.stderr or proc.stdout).strip()


def archive_path(build: KeycloakBuild) -> Path:
    key = hashlib.sha256(f"{build.home}|{build.version}|{java_identity()}".encode()).hexdigest()[:12]
    return cache_dir() / "cds" / f"{build.home.name}-{key}.jsa"


def use_options(build: KeycloakBuild) -> str | None:
    """The JVM options that map the archive, or None when there is none yet."""
    path = archive_path(build)
    return f"-XX:SharedArchiveFile={path} -Xshare:auto" if path.is_file() else None
