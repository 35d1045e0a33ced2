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

:class:`KeycloakAdmin` is a small typed client of the admin REST API: realms,
confidential clients, users, realm keys and key providers, sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from scripts.errors import ExternalError, WaitTimeout
from scripts.processes import ManagedProcess, Supervisor, free_port
from scripts.progress import Progress

#: The Keycloak release the lab runs. Change the version and the SHA-1 together.
KEYCLOAK_VERSION = "26.7.3"
#: SHA-1 of keycloak-quarkus-dist-26.7.3.zip as published on Maven Central.
KEYCLOAK_ZIP_SHA1 = "1e21a7f572581692aacb379dbba8413f99b67208"

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
#: Directories searched for an already-downloaded zip (keycloak-<v>.zip or
#: keycloak-quarkus-dist-<v>.zip) before downloading; ':'-separated override in
#: IDP_DR_KEYCLOAK_ZIP_DIRS.
SEED_DIRS = (Path("/var/cache/idp-dr"),)

#: Build-time options of the lab's server.
DEFAULT_BUILD_OPTIONS: tuple[str, ...] = ("--db=postgres", "--health-enabled=true")

#: Runtime options every lab server gets (``extra_env`` may override them).
#: ``KC_CACHE=local``: no clustering. ``cache`` is a runtime option in Keycloak 26 (``kc.sh build``
#: ignores it); without it the default ``ispn`` cache with the ``jdbc-ping`` stack finds the dead
#: primary's row in the restored ``jgroups_ping`` table and sends it JOIN requests, 2 s each, until
#: it gives up (18 s measured in the drill), and two lab servers on one database would form a
#: cluster. Production's standby runs ``ispn`` with per-cluster DNS discovery
#: (components/standby.py), which never sees the other site's members.
LAB_RUNTIME_ENV: dict[str, str] = {"KC_CACHE": "local"}

#: Heap for a lab server: enough for a few realms, small enough for a 2-core CI box.
DEFAULT_HEAP = "-Xms64m -Xmx512m"

Log = Callable[[str], None]


def _stderr_log(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# -- cache and distribution ----------------------------------------------------
def cache_dir() -> Path:
    """``IDP_DR_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/idp-dr``."""
    if os.environ.get("IDP_DR_CACHE"):
        return Path(os.environ["IDP_DR_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "idp-dr"


def dist_url(version: str = KEYCLOAK_VERSION) -> str:
    return f"{MAVEN_CENTRAL}/org/keycloak/keycloak-quarkus-dist/{version}/keycloak-quarkus-dist-{version}.zip"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1; integrity, not security
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha1(path: Path, expected: str, *, source: str) -> None:
    """Raise ExternalError unless ``path`` has SHA-1 ``expected`` (hex, case-insensitive)."""
    expected = expected.strip().split()[0].lower() if expected.strip() else ""
    actual = sha1_of(path)
    if actual != expected:
        raise ExternalError(
            f"checksum mismatch for {path.name}: SHA-1 is {actual}, {source} says {expected or '(empty)'}",
            hint=f"delete {path} and re-run to download it again",
        )


def _seed_dirs() -> list[Path]:
    raw = os.environ.get("IDP_DR_KEYCLOAK_ZIP_DIRS")
    if raw is not None:
        return [Path(p) for p in raw.split(":") if p]
    return list(SEED_DIRS)


def ensure_zip(version: str = KEYCLOAK_VERSION, *, log: Log = _stderr_log, expected_sha1: str | None = None) -> Path:
    """The distribution zip in the cache: already there, copied from a seed dir, or downloaded."""
    pinned = expected_sha1 or (KEYCLOAK_ZIP_SHA1 if version == KEYCLOAK_VERSION else None)
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"keycloak-quarkus-dist-{version}.zip"
    if target.exists():
        return target
    with _locked(cache / ".keycloak-zip.lock"):
        if target.exists():
            return target
        for seed_dir in _seed_dirs():
            for name in (f"keycloak-{version}.zip", f"keycloak-quarkus-dist-{version}.zip"):
                seed = seed_dir / name
                if not seed.is_file():
                    continue
                if pinned is None:
                    log(f"[keycloak] ignoring {seed}: no pinned SHA-1 for version {version} to check it")
                    continue
                verify_sha1(seed, pinned, source=f"the SHA-1 pinned for Keycloak {version}")
                log(f"[keycloak] using pre-downloaded {seed} (SHA-1 verified); caching it in {target}")
                tmp = target.with_suffix(".part")
                shutil.copyfile(seed, tmp)
                tmp.replace(target)
                return target
        download_zip(version, target, log=log, pinned_sha1=pinned)
    return target


def download_zip(
    version: str, target: Path, *, log: Log = _stderr_log, pinned_sha1: str | None = None, timeout: float = 60
) -> None:
    """Download the zip to ``target``, verifying Maven's ``.sha1`` (and the pinned one)."""
    url = dist_url(version)
    try:
        published = requests.get(url + ".sha1", timeout=timeout)
        published.raise_for_status()
        response = requests.get(url, stream=True, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise ExternalError(
            f"could not download Keycloak {version} from {url}: {exc}",
            hint="set KEYCLOAK_HOME to an installed Keycloak, or put the zip in "
            f"{target.parent} (network access to Maven Central is needed otherwise)",
        ) from None
    size = int(response.headers.get("content-length") or 0)
    log(f"[keycloak] downloading {url} ({size / 1e6:.0f} MB) into {target}")
    progress = Progress("keycloak download", min_interval=10, unit="bytes")
    tmp = target.with_suffix(".part")
    done = 0
    with tmp.open("wb") as fh:
        for chunk in response.iter_content(1 << 20):
            fh.write(chunk)
            done += len(chunk)
            progress.update("downloading", completed=done, total=size or None)
    try:
        verify_sha1(tmp, published.text, source=f"{url}.sha1")
        if pinned_sha1:
            verify_sha1(tmp, pinned_sha1, source=f"the SHA-1 pinned for Keycloak {version}")
    except ExternalError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)
    progress.done(f"downloaded and verified {target.name}")


def ensure_distribution(version: str = KEYCLOAK_VERSION, *, log: Log = _stderr_log) -> Path:
    """A pristine Keycloak home: ``KEYCLOAK_HOME``, else the cached zip, extracted once."""
    if os.environ.get("KEYCLOAK_HOME"):
        home = Path(os.environ["KEYCLOAK_HOME"])
        if not (home / "bin" / "kc.sh").is_file():
            raise ExternalError(
                f"KEYCLOAK_HOME={home} has no bin/kc.sh",
                hint="point KEYCLOAK_HOME at an unpacked Keycloak distribution, or unset it",
            )
        return home
    cache = cache_dir()
    home = cache / f"keycloak-{version}"
    if (home / ".complete").exists():
        return home
    zip_path = ensure_zip(version, log=log)
    with _locked(cache / ".keycloak-dist.lock"):
        if (home / ".complete").exists():
            return home
        log(f"[keycloak] extracting {zip_path.name} into {home}")
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache))
        try:
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(tmp)
            (extracted,) = [p for p in tmp.iterdir() if p.is_dir()]
            for script in (extracted / "bin").glob("*.sh"):
                script.chmod(0o755)
            shutil.rmtree(home, ignore_errors=True)
            extracted.rename(home)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (home / ".complete").write_text(version + "\n")
    return home


def installed_version(home: Path) -> str:
    text = (home / "version.txt").read_text() if (home / "version.txt").exists() else ""
    return text.strip().rsplit(" ", 1)[-1] if text.strip() else "unknown"


@dataclass(frozen=True)
class KeycloakBuild:
    """An augmented (``kc.sh build``) Keycloak home, ready for ``start --optimized``."""

    home: Path
    version: str
    options: tuple[str, ...]
    #: Seconds ``kc.sh build`` took, or None when the build came from the cache.
    build_seconds: float | None = None


def ensure_build(
    options: Iterable[str] = DEFAULT_BUILD_OPTIONS,
    *,
    version: str = KEYCLOAK_VERSION,
    log: Log = _stderr_log,
    timeout: float = 900,
) -> KeycloakBuild:
    """A per-configuration copy of the distribution with ``kc.sh build`` applied (cached)."""
    options = tuple(options)
    dist = ensure_distribution(version, log=log)
    actual_version = installed_version(dist)
    key = hashlib.sha256(json.dumps([str(dist), actual_version, options]).encode()).hexdigest()[:12]
    builds = cache_dir() / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    home = builds / f"keycloak-{actual_version}-{key}"
    if (home / ".complete").exists():
        return KeycloakBuild(home, actual_version, options)
    with _locked(builds / f".{home.name}.lock"):
        if (home / ".complete").exists():
            return KeycloakBuild(home, actual_version, options)
        shutil.rmtree(home, ignore_errors=True)
        tmp = builds / f".{home.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(dist, tmp, symlinks=True)
        (tmp / ".complete").unlink(missing_ok=True)
        log(f"[keycloak] building {home.name}: kc.sh build {' '.join(options)}")
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(tmp / "bin" / "kc.sh"), "build", *options],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_java_env({}),
        )
        seconds = time.monotonic() - t0
        (tmp / "build.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = " / ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise ExternalError(f"kc.sh build failed (exit {proc.returncode}): {tail}", hint=f"see {tmp / 'build.log'}")
        tmp.rename(home)
        (home / ".complete").write_text(json.dumps({"options": options, "build_seconds": seconds}) + "\n")
        log(f"[keycloak] built {home.name} in {seconds:.1f} s")
    return KeycloakBuild(home, actual_version, options, build_seconds=seconds)


# -- running a server ----------------------------------------------------------
@dataclass(frozen=True)
class JdbcDatabase:
    """Where Keycloak keeps its state. The password goes to the server's environment, never argv."""

    url: str
    username: str
    password: str

    @classmethod
    def local(cls, port: int, dbname: str, username: str, password: str) -> JdbcDatabase:
        return cls(f"jdbc:postgresql://127.0.0.1:{port}/{dbname}", username, password)


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


def _java_env(extra: dict[str, str], heap: str = DEFAULT_HEAP) -> dict[str, str]:
    env = dict(os.environ)
    # Only our own settings reach the JVM: a stray JAVA_OPTS would replace Keycloak's defaults.
    for key in list(env):
        if key.startswith("KC_") or key in ("JAVA_OPTS", "JAVA_OPTS_APPEND", "JAVA_OPTS_KC_HEAP"):
            env.pop(key)
    env["JAVA_OPTS_KC_HEAP"] = heap
    env.update(extra)
    return env


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
            "KC_DB_URL": db.url,
            "KC_DB_USERNAME": db.username,
            "KC_DB_PASSWORD": db.password,
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
    """Poll ``/health/ready`` on the management port until UP; returns seconds waited."""
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
        time.sleep(1)
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


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# -- admin REST API ------------------------------------------------------------
KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"
#: Key providers whose keys sign tokens (RSA/EC/EdDSA; HMAC and AES keys never appear in a JWKS).
SIGNING_KEY_PROVIDERS = frozenset({"rsa-generated", "rsa", "java-keystore", "ecdsa-generated", "eddsa-generated"})


@dataclass
class KeycloakAdmin:
    """The admin REST API, as the bootstrap admin of the master realm."""

    base_url: str
    username: str
    password: str
    timeout: float = 30
    _token: str | None = field(default=None, repr=False)
    _token_expires: float = 0.0

    # -- plumbing --
    def token(self) -> str:
        if self._token and time.monotonic() < self._token_expires - 10:
            return self._token
        response = requests.post(
            f"{self.base_url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.username,
                "password": self.password,
            },
            timeout=self.timeout,
        )
        _raise_for(response, "get an admin token")
        body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + float(body.get("expires_in", 60))
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        response = requests.request(
            method, f"{self.base_url}/admin{path}", headers=headers, timeout=self.timeout, **kwargs
        )
        _raise_for(response, f"{method} /admin{path}")
        return response

    def _created_id(self, response: requests.Response) -> str:
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    # -- realms --
    def create_realm(self, realm: str, *, events: bool = True) -> None:
        """An enabled realm; ``events`` stores login and admin events (the newest-event evidence)."""
        self.request(
            "POST",
            "/realms",
            json={
                "realm": realm,
                "enabled": True,
                "eventsEnabled": events,
                "adminEventsEnabled": events,
                "adminEventsDetailsEnabled": False,
            },
        )

    def get_realm(self, realm: str) -> dict[str, Any]:
        return self.request("GET", f"/realms/{realm}").json()

    def server_version(self) -> str:
        return self.request("GET", "/serverinfo").json()["systemInfo"]["version"]

    # -- clients and users --
    def create_confidential_client(
        self,
        realm: str,
        client_id: str,
        *,
        secret: str | None = None,
        direct_access_grants: bool = False,
        service_account_roles: Iterable[str] = (),
    ) -> str:
        """A confidential client with a service account (client_credentials); returns its secret.

        ``service_account_roles`` are ``realm-management`` client roles for the
        service account (e.g. ``manage-users`` to apply session hygiene).
        """
        import secrets

        secret = secret or secrets.token_urlsafe(24)
        response = self.request(
            "POST",
            f"/realms/{realm}/clients",
            json={
                "clientId": client_id,
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "secret": secret,
                "clientAuthenticatorType": "client-secret",
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "directAccessGrantsEnabled": direct_access_grants,
            },
        )
        internal_id = self._created_id(response)
        roles = list(service_account_roles)
        if roles:
            sa_user = self.request("GET", f"/realms/{realm}/clients/{internal_id}/service-account-user").json()
            (rm,) = self.request("GET", f"/realms/{realm}/clients", params={"clientId": "realm-management"}).json()
            available = {r["name"]: r for r in self.request("GET", f"/realms/{realm}/clients/{rm['id']}/roles").json()}
            self.request(
                "POST",
                f"/realms/{realm}/users/{sa_user['id']}/role-mappings/clients/{rm['id']}",
                json=[available[name] for name in roles],
            )
        return secret

    def create_user(self, realm: str, username: str, *, password: str | None = None, email: str | None = None) -> str:
        """An enabled user with a non-temporary password; returns its id."""
        body: dict[str, Any] = {
            "username": username,
            "enabled": True,
            "emailVerified": True,
            "firstName": username,
            "lastName": "Lab",
            "email": email or f"{username}@example.test",
        }
        if password:
            body["credentials"] = [{"type": "password", "value": password, "temporary": False}]
        return self._created_id(self.request("POST", f"/realms/{realm}/users", json=body))

    # -- keys --
    def realm_keys(self, realm: str) -> dict[str, Any]:
        """``GET /admin/realms/{realm}/keys``: {"active": {alg: kid}, "keys": [...]}."""
        return self.request("GET", f"/realms/{realm}/keys").json()

    def key_providers(self, realm: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/realms/{realm}/components", params={"type": KEY_PROVIDER_TYPE}).json()

    def add_rsa_key_provider(self, realm: str, name: str, *, priority: int = 200) -> str:
        """A new generated RSA signing key (RS256); returns the component id."""
        realm_id = self.get_realm(realm)["id"]
        response = self.request(
            "POST",
            f"/realms/{realm}/components",
            json={
                "name": name,
                "providerId": "rsa-generated",
                "providerType": KEY_PROVIDER_TYPE,
                "parentId": realm_id,
                "config": {
                    "priority": [str(priority)],
                    "enabled": ["true"],
                    "active": ["true"],
                    "keySize": ["2048"],
                    "algorithm": ["RS256"],
                },
            },
        )
        return self._created_id(response)

    def delete_component(self, realm: str, component_id: str) -> None:
        self.request("DELETE", f"/realms/{realm}/components/{component_id}")

    def rotate_signing_keys_away(self, realm: str) -> tuple[list[str], list[str]]:
        """Add a new RSA key and delete every other signing-key provider (a botched rotation).

        Returns (kids removed, kids now active). Tokens signed by removed keys no longer validate.
        """
        before = self.signing_kids(realm)
        old = [c for c in self.key_providers(realm) if c["providerId"] in SIGNING_KEY_PROVIDERS]
        self.add_rsa_key_provider(realm, f"rotated-{int(time.time())}", priority=500)
        for component in old:
            self.delete_component(realm, component["id"])
        after = self.signing_kids(realm)
        return sorted(before - after), sorted(after)

    def signing_kids(self, realm: str) -> set[str]:
        """Key IDs of the realm's asymmetric signing keys (what a JWKS publishes for signatures)."""
        return {
            k["kid"]
            for k in self.realm_keys(realm)["keys"]
            if k.get("use") == "SIG" and k.get("type") in ("RSA", "EC", "OKP")
        }

    # -- sessions --
    def session_stats(self, realm: str) -> list[dict[str, Any]]:
        return self.request("GET", f"/realms/{realm}/client-session-stats").json()

    def logout_all(self, realm: str) -> dict[str, Any]:
        """Remove every user session of the realm and set its not-before to now."""
        return self.request("POST", f"/realms/{realm}/logout-all").json()

    def push_not_before(self, realm: str, not_before: int | None = None) -> int:
        """Set the realm's not-before (tokens issued earlier are rejected); returns it."""
        value = int(time.time()) if not_before is None else not_before
        self.request("PUT", f"/realms/{realm}", json={"realm": realm, "notBefore": value})
        return value


def password_login(
    base_url: str,
    realm: str,
    client_id: str,
    client_secret: str,
    username: str,
    password: str,
    *,
    timeout: float = 30,
) -> dict[str, Any]:
    """A user login (resource-owner password grant): creates a user session; returns the token response."""
    response = requests.post(
        f"{base_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "password", "username": username, "password": password, "scope": "openid"},
        auth=(client_id, client_secret),
        timeout=timeout,
    )
    _raise_for(response, "log the user in")
    return response.json()


def _raise_for(response: requests.Response, what: str) -> None:
    if response.status_code < 400:
        return
    body = response.text.strip().replace("\n", " ")[:300]
    raise ExternalError(f"keycloak: could not {what}: HTTP {response.status_code} {body}")


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
