"""A real Keycloak on loopback, for the local drill, the integration tests and benches.

Three stages, each cached so it is paid once:

1. **Distribution** (:func:`ensure_distribution`): ``KEYCLOAK_HOME`` when set (an
   existing install, never modified); else the zip in the cache directory
   (``IDP_DR_CACHE``, default ``${XDG_CACHE_HOME:-~/.cache}/idp-dr``), seeded from
   a pre-downloaded zip in :data:`SEED_DIRS` when present, else downloaded from
   Maven Central (``org.keycloak:keycloak-quarkus-dist:<version>:zip``). Every zip
   is checked against the SHA-1 pinned here and, when downloaded, against the
   ``.sha1`` Maven publishes next to it.
2. **Build** (:func:`ensure_build`): ``kc.sh build`` rewrites the distribution in
   place, so each build configuration gets its own copy under
   ``<cache>/builds/``. Starts then use ``start --optimized`` (no re-augmentation).
3. **Instance** (:func:`start_keycloak`): a hard-linked copy of the build with
   its own ``data/`` directory (two servers can run from one build), started
   through :class:`~scripts.processes.Supervisor` on 127.0.0.1 with free
   ports, a fixed public hostname (hostname v2: the issuer does not depend on
   the request's Host), and waited for on ``/health/ready`` of the management
   port.

:class:`~scripts.lab.keycloak_admin.KeycloakAdmin` is a small typed client of the admin REST API: realms,
confidential clients, users, realm keys and key providers, sessions.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from scripts.errors import ExternalError, WaitTimeout
from scripts.lab.keycloak_admin import KeycloakAdmin
from scripts.lab.keycloak_dist import (
    DEFAULT_HEAP,
    KeycloakBuild,
    Log,
    _java_env,
    _stderr_log,
    ensure_build,
    ensure_distribution,
)
from scripts.processes import ManagedProcess, Supervisor, free_port
from scripts.progress import Progress

#: Runtime options every lab server gets (``extra_env`` may override them).
#: ``KC_CACHE=local``: no clustering. ``cache`` is a runtime option in Keycloak 26 (``kc.sh build``
#: ignores it); without it the default ``ispn`` cache with the ``jdbc-ping`` stack finds the dead
#: primary's row in the restored ``jgroups_ping`` table and sends it JOIN requests, 2 s each, until
#: it gives up (18 s measured in the drill), and two lab servers on one database would form a
#: cluster. Production's standby runs ``ispn`` with per-cluster DNS discovery
#: (components/standby/keycloak.py), which never sees the other site's members.
LAB_RUNTIME_ENV: dict[str, str] = {"KC_CACHE": "local"}


# -- cache and distribution ----------------------------------------------------


# -- running a server ----------------------------------------------------------
@dataclass(frozen=True)
class JdbcDatabase:
    """Where Keycloak keeps its state. The password goes to the server's environment, never argv.

    ``url`` is a full JDBC URL; without one, ``parts`` (host, port, database, URL properties) are
    passed as the pods do it (``KC_DB_URL_HOST`` ... ``KC_DB_URL_PROPERTIES``).
    """

    url: str | None
    username: str
    password: str
    parts: dict[str, str] | None = None

    @classmethod
    def local(cls, port: int, dbname: str, username: str, password: str) -> JdbcDatabase:
        return cls(f"jdbc:postgresql://127.0.0.1:{port}/{dbname}", username, password)

    def env(self) -> dict[str, str]:
        where = {"KC_DB_URL": self.url} if self.url else dict(self.parts or {})
        return {**where, "KC_DB_USERNAME": self.username, "KC_DB_PASSWORD": self.password}


@dataclass
class KeycloakServer:
    name: str
    home: Path
    http_port: int
    mgmt_port: int
    #: The public hostname (a full URL): every issuer this server puts in tokens starts with it.
    hostname: str
    admin_username: str
    admin_password: str
    log_path: Path
    process: ManagedProcess
    version: str
    #: Seconds from process start to /health/ready answering UP.
    startup_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        """Where this machine reaches the server (not the issuer: see :attr:`hostname`)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def mgmt_url(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}"

    def issuer(self, realm: str) -> str:
        return f"{self.hostname.rstrip('/')}/realms/{realm}"

    def admin(self) -> KeycloakAdmin:
        return KeycloakAdmin(self.base_url, self.admin_username, self.admin_password)

    def running(self) -> bool:
        return self.process.running()

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()


def _link_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` with hard links (fast, no space); plain copies across filesystems."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(
        src,
        dst,
        symlinks=True,
        copy_function=link,
        ignore=shutil.ignore_patterns("data", ".complete", "build.log"),
    )


def start_keycloak(
    supervisor: Supervisor,
    workspace: Path,
    *,
    db: JdbcDatabase,
    hostname: str,
    name: str = "keycloak",
    build: KeycloakBuild | None = None,
    http_port: int | None = None,
    mgmt_port: int | None = None,
    admin_username: str = "admin",
    admin_password: str | None = None,
    heap: str = DEFAULT_HEAP,
    timeout: float = 600,
    progress: bool = True,
    extra_env: dict[str, str] | None = None,
    optimized: bool = True,
    log: Log = _stderr_log,
) -> KeycloakServer:
    """Start Keycloak on 127.0.0.1 against ``db`` and wait for ``/health/ready``.

    ``hostname`` is a full URL such as ``https://sso.example.test``: with hostname
    v2 the issuer is ``<hostname>/realms/<realm>`` whatever Host a request carries,
    which is what a standby must do to keep production's issuer. The server is
    reached at :attr:`KeycloakServer.base_url` (plain HTTP on loopback). The bootstrap
    admin is created only when the database has no master realm yet (first start).
    ``timeout`` covers a first start, which also creates the schema. ``extra_env`` adds
    ``KC_*`` runtime options (e.g. ``{"KC_SHUTDOWN_DELAY": "60s"}``).
    ``optimized=False`` starts an unbuilt copy of the distribution with the build
    options on the command line (Keycloak re-augments first): only for measuring
    what ``--optimized`` saves.
    """
    import secrets

    build = build or ensure_build(log=log)
    root = workspace / name
    root.mkdir(parents=True, exist_ok=True)
    home = root / "home"
    if not home.exists():
        if optimized:
            _link_tree(build.home, home)
        else:  # re-augmentation rewrites lib/: a real copy, never links into the cache
            shutil.copytree(
                ensure_distribution(build.version, log=log),
                home,
                symlinks=True,
                ignore=shutil.ignore_patterns("data", ".complete"),
            )
    (home / "data").mkdir(exist_ok=True)
    argv = [str(home / "bin" / "kc.sh"), "start", *(["--optimized"] if optimized else build.options)]
    log_path = root / "keycloak.log"
    http_port = http_port or free_port()
    mgmt_port = mgmt_port or free_port()
    admin_password = admin_password or secrets.token_urlsafe(16)
    env = _java_env(
        {
            **db.env(),
            "KC_DB_POOL_MAX_SIZE": "10",
            "KC_HOSTNAME": hostname,
            "KC_HOSTNAME_STRICT": "true",
            "KC_HTTP_ENABLED": "true",
            "KC_HTTP_HOST": "127.0.0.1",
            "KC_HTTP_PORT": str(http_port),
            "KC_HTTP_MANAGEMENT_PORT": str(mgmt_port),
            "KC_BOOTSTRAP_ADMIN_USERNAME": admin_username,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
            "KC_LOG_CONSOLE_COLOR": "false",
            **LAB_RUNTIME_ENV,
            **(extra_env or {}),
        },
        heap=heap,
    )
    log(
        f"[keycloak] starting {name} ({build.version}) on {f'http://127.0.0.1:{http_port}'} "
        f"(management :{mgmt_port}) as {hostname}; log: {log_path}"
    )
    proc = supervisor.start(
        f"keycloak {name}",
        argv,
        log_path=log_path,
        env=env,
        cwd=home,
        stop_timeout=60,
    )
    server = KeycloakServer(
        name=name,
        home=home,
        http_port=http_port,
        mgmt_port=mgmt_port,
        hostname=hostname,
        admin_username=admin_username,
        admin_password=admin_password,
        log_path=log_path,
        process=proc,
        version=build.version,
    )
    server.startup_seconds = wait_ready(server, timeout=timeout, progress=progress)
    return server


def wait_ready(server: KeycloakServer, *, timeout: float, progress: bool = True) -> float:
    """Poll ``/health/ready`` on the management port (every 0.25 s) until UP; returns seconds waited."""
    bar = Progress(f"keycloak {server.name}", enabled=progress, min_interval=15)
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = "not listening yet"
    while time.monotonic() < deadline:
        if not server.process.running():
            raise ExternalError(
                f"keycloak {server.name} exited with code {server.process.popen.returncode} before it was "
                f"ready ({last}); its log ends: {_log_tail(server.log_path)}",
                hint=f"see its log: {server.log_path}",
            )
        try:
            response = requests.get(f"{server.mgmt_url}/health/ready", timeout=5)
            if response.status_code == 200 and response.json().get("status") == "UP":
                seconds = time.monotonic() - t0
                bar.done(f"ready on {server.base_url}")
                return seconds
            last = f"/health/ready answered HTTP {response.status_code}"
        except (requests.RequestException, ValueError) as exc:
            last = "not listening yet" if isinstance(exc, requests.ConnectionError) else str(exc)
        bar.update(f"waiting for /health/ready ({last})")
        time.sleep(0.25)  # the drill's RTO and the benchmarks read this time: a 1 s poll was up to 1 s late
    raise WaitTimeout(
        f"keycloak {server.name} not ready after {timeout:.0f} s ({last}); its log ends: {_log_tail(server.log_path)}",
        hint=f"see its log: {server.log_path}",
    )


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, on one line (errors name the cause, not just the file)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " / ".join(line.strip()[:300] for line in text[-lines:]) or "(empty)"


def main(argv: list[str] | None = None) -> int:
    """``python -m scripts.lab.keycloak prepare``: fetch (SHA-1 verified) and build the lab's Keycloak.

    CI runs it before the tests so the download (177 MB) and the build happen once,
    visibly, into the cache (``IDP_DR_CACHE``). Exit 0 when ready, 5 when it failed.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m scripts.lab.keycloak",
        description="Prepare the Keycloak the local drill and tests run.",
    )
    parser.add_argument("action", choices=["prepare"], help="download/verify/extract/build into the cache")
    parser.parse_args(argv)
    try:
        build = ensure_build()
    except ExternalError as exc:
        _stderr_log(f"error: {exc.message}")
        if exc.hint:
            _stderr_log(f"hint: {exc.hint}")
        return int(exc.exit_code)
    _stderr_log(f"[keycloak] ready: {build.home} (Keycloak {build.version}, {' '.join(build.options)})")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
