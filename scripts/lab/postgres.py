"""A throwaway PostgreSQL 15 cluster run as an unprivileged OS user.

Used by the local drill, the integration tests and the benchmarks. It listens
on 127.0.0.1 (password auth, SCRAM) and on a private unix socket (trust, for
the superuser the lab itself uses).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from scripts.errors import ExternalError, WaitTimeout
from scripts.pg.bindir import find_pg_bindir
from scripts.pg.osuser import OsUser, make_user_dir, pg_os_user
from scripts.processes import Supervisor, free_port


@dataclass
class PgCluster:
    name: str
    root: Path
    port: int
    user: OsUser
    bindir: Path
    superuser_password: str
    settings: dict[str, Any] = field(default_factory=dict)

    # -- layout --------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def create(
        cls,
        workspace: Path,
        name: str,
        *,
        supervisor: Supervisor,
        port: int | None = None,
        settings: dict[str, Any] | None = None,
        initdb: bool = True,
    ) -> PgCluster:
        """Lay out a cluster under ``workspace/name``; run initdb unless ``initdb=False``.

        With ``initdb=False`` the data directory is left for a restore to fill
        (it must stay empty until then). The supervisor stops the server on exit.
        """
        user = pg_os_user()
        root = workspace / name
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        cluster = cls(
            name=name,
            root=root,
            port=port or free_port(),
            user=user,
            bindir=find_pg_bindir(),
            superuser_password=secrets.token_urlsafe(18),
            settings=dict(settings or {}),
        )
        make_user_dir(cluster.socket_dir, user, 0o755)
        make_user_dir(cluster.datadir, user, 0o700)
        log = cluster.log_path
        log.touch()
        user.chown(log)
        if initdb:
            cluster._initdb()
        supervisor.add_cleanup(f"stop postgres {name}", cluster.stop_if_running)
        return cluster

    def _initdb(self) -> None:
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        pwfile.chmod(0o600)
        self.user.chown(pwfile)
        try:
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--data-checksums",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.write_settings({})

    def write_settings(self, extra: dict[str, Any]) -> None:
        """(Re)write the lab's settings file, included from postgresql.conf."""
        self.settings.update(extra)
        base = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            "logging_collector": "off",
            "log_line_prefix": "%m [%p] ",
            "fsync": "on",
        }
        base.update(self.settings)
        conf = self.datadir / "idp_dr_lab.conf"
        conf.write_text("".join(f"{k} = {_conf_value(v)}\n" for k, v in base.items()))
        self.user.chown(conf)
        main_conf = self.datadir / "postgresql.conf"
        include = "include_if_exists = 'idp_dr_lab.conf'\n"
        text = main_conf.read_text() if main_conf.exists() else ""
        if include not in text:
            main_conf.write_text(text + "\n" + include)
            self.user.chown(main_conf)

    def start(self, *, env: dict[str, str] | None = None, wait: bool = True, timeout: float = 120) -> None:
        """pg_ctl start. ``env`` adds variables for the server (and so for archive_command)."""
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.log_path)]
        argv += ["-w", "-t", str(int(timeout))] if wait else ["-W"]
        argv.append("start")
        self._run(argv, what="pg_ctl start", env=env, timeout=timeout + 30)

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "-t", str(int(timeout)), "stop"],
            what="pg_ctl stop",
            timeout=timeout + 30,
        )

    def running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop_if_running(self) -> None:
        if self.running():
            try:
                self.stop("immediate", timeout=30)
            except ExternalError:
                self.crash()

    def postmaster_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError, PermissionError):
            return None

    def crash(self) -> None:
        """SIGKILL the postmaster and its backends: a disaster, no shutdown checkpoint."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # Backends notice postmaster death on their own; give them a moment.
        time.sleep(0.2)

    # -- access --------------------------------------------------------------
    def connect(self, dbname: str = "postgres", *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection:
        """Superuser connection over the private unix socket (trust auth)."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=autocommit,
            connect_timeout=10,
            **kwargs,
        )

    def execute(self, sql: str, params: Any = None, *, dbname: str = "postgres") -> list[tuple]:
        with self.connect(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def tcp_dsn(self, dbname: str, user: str, password: str, **params: str) -> str:
        """A libpq URI over TCP; keep it out of reports (it holds a password)."""
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}?connect_timeout=10{extra}"

    def create_role_and_db(self, role: str, password: str, dbname: str) -> None:
        with self.connect() as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    psycopg.sql.Identifier(role), psycopg.sql.Literal(password)
                )
            )
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(role)
                )
            )

    def wait_until_writable(self, *, timeout: float, poll: float = 0.2) -> float:
        """Wait for recovery to end (pg_is_in_recovery() = false); returns seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last_error = "not started"
        while time.monotonic() < deadline:
            try:
                rows = self.execute("SELECT pg_is_in_recovery()")
                if rows and rows[0][0] is False:
                    return time.monotonic() - t0
                last_error = "still in recovery"
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection refused"
            # Give a just-started postmaster a moment to write its pid file.
            if time.monotonic() - t0 > 3 and not self.running():
                raise ExternalError(
                    f"postgres {self.name} stopped during recovery ({last_error})",
                    hint=f"see its log: {self.log_path}",
                )
            time.sleep(poll)
        raise WaitTimeout(
            f"postgres {self.name} still not writable after {timeout:.0f} s ({last_error})",
            hint=f"see its log: {self.log_path}",
        )

    # -- helpers -------------------------------------------------------------
    def _run(
        self, argv: list[str], *, what: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=str(self.root),
                env=self.user.env({**os.environ, **(env or {})}),
                **self.user.popen_kwargs(),
            )
        except subprocess.TimeoutExpired:
            raise WaitTimeout(
                f"{what} for {self.name} took longer than {timeout:.0f} s", hint=f"see {self.log_path}"
            ) from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ExternalError(
                f"{what} for {self.name} failed (exit {proc.returncode}): {' / '.join(tail)}",
                hint=f"see {self.log_path}",
            )
        return proc


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
