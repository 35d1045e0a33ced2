"""The Keycloak lab's distribution handling, without downloading Keycloak.

The integrity checks are exercised with small fake zips: a seeded zip and a
"Maven Central" on loopback serving a zip whose published .sha1 does not match.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scripts.errors import ExternalError
from scripts.lab import keycloak_dist as kc
from scripts.verify.keycloak import kid_from_certificate

#: A certificate Keycloak 26.7.3 generated for a realm's rsa-generated key provider
#: (component_config 'certificate'), and the kid its JWKS published for it.
REAL_KEYCLOAK_CERT = (
    "MIIClzCCAX8CBgGiCCvk2zANBgkqhkiG9w0BAQsFADAPMQ0wCwYDVQQDDARkZW1vMB4XDTI2MTEyMzExMjg0NFoXDTM2MTEyMzEx"
    "MzAyNFowDzENMAsGA1UEAwwEZGVtbzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAN8OebhVC0JKtVzPf9kuaLEFQRAm"
    "ZcmOj5Lh0kqJdaHwjDfqjJncN3utcWza14iAN8iyvmYGFz5POpIbuqwad1Ivk3pRa3/ppP+wtAdnnTXNV0M0uKtffJx6tFtfWuRr"
    "LJ1I0uAS9+h6WEN1RBVtl0B/rgFDp4eGCzc8kmfOrfD0n8F+HvnHoynM53S34yMM6vVtyzisaYOs0ywNqBkP7seTJ1d9/3PThogx"
    "yqh6OjaUAGk1p6gykvszWSWBmKMZquYD76347WPUo7bEKisy707NlC3EGSbGTMT+MgHoghwVDe+aCP3+YVQ7RK9/iEiQcSSB9i/s"
    "YIcz2Rfz2HBww50CAwEAATANBgkqhkiG9w0BAQsFAAOCAQEAfEVuLqBhRSA2j1XbulJQUPL3eEaU6OBvjyMMptkl9cjz/9Q0wF+Q"
    "dr6cructAXK+7TzYbqCKEAPU8qhuTH6YSAlAwzCIjgoWx1EEL4SwCgUmEDnYd9BLqsop9axTh7Wf9WPlVyFW9DD+uY2MbSOfqlHV"
    "cpTmhudDILdTskLsEcN/gNc2yY1QBrRGmjuzd3D3dn7fdk5Tz/tg+3doj7gW1BJhtiyFNWTK4bmLLPbjCF/p9nafXj1rnSSpbsET"
    "7NYVKUxlkmWhYzQzL3R9CxX+1kweYt1np+5oxVF3C9ISgjFnvcNruItkTXvM2Y25kZrlpwxRsj/HwoIpn54AwUDq/Q=="
)
REAL_KEYCLOAK_KID = "zMs-jKTGA1VEStW2_nS_1sF83gpvMhtlW_sbNEVXPQw"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("IDP_DR_CACHE", str(path))
    monkeypatch.setenv("IDP_DR_KEYCLOAK_ZIP_DIRS", str(tmp_path / "seed"))
    return path


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - the format under test


def test_cache_dir_honours_idp_dr_cache_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_DR_CACHE", str(tmp_path / "a"))
    assert kc.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("IDP_DR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kc.cache_dir() == tmp_path / "xdg" / "idp-dr"


def test_verify_sha1_rejects_a_corrupted_file(tmp_path):
    path = tmp_path / "keycloak-quarkus-dist-0.0.0.zip"
    path.write_bytes(b"not the real zip")
    wrong = _sha1(b"the real zip")
    with pytest.raises(ExternalError) as info:
        kc.verify_sha1(path, wrong + "  keycloak-quarkus-dist-0.0.0.zip\n", source="the .sha1 file")
    assert info.value.message == (
        f"checksum mismatch for keycloak-quarkus-dist-0.0.0.zip: SHA-1 is "
        f"{_sha1(b'not the real zip')}, the .sha1 file says {wrong}"
    )
    assert info.value.hint == f"delete {path} and re-run to download it again"
    kc.verify_sha1(path, _sha1(b"not the real zip").upper(), source="x")  # case-insensitive, no raise


def test_a_seeded_zip_is_used_only_when_its_checksum_matches(cache, tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "keycloak-0.0.1.zip").write_bytes(b"corrupted in transit")
    with pytest.raises(ExternalError) as info:
        kc.ensure_zip("0.0.1", expected_sha1=_sha1(b"genuine"), log=lambda _m: None)
    assert info.value.message.startswith("checksum mismatch for keycloak-0.0.1.zip")
    assert not (cache / "keycloak-quarkus-dist-0.0.1.zip").exists()

    (seed / "keycloak-0.0.1.zip").write_bytes(b"genuine")
    messages: list[str] = []
    path = kc.ensure_zip("0.0.1", expected_sha1=_sha1(b"genuine"), log=messages.append)
    assert path == cache / "keycloak-quarkus-dist-0.0.1.zip"
    assert path.read_bytes() == b"genuine"
    assert messages == [
        f"[keycloak] using pre-downloaded {seed / 'keycloak-0.0.1.zip'} (SHA-1 verified); caching it in {path}"
    ]


@pytest.fixture
def fake_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "maven"
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(kc, "MAVEN_CENTRAL", f"http://127.0.0.1:{server.server_address[1]}")
    yield root
    server.shutdown()
    server.server_close()


def _publish(root: Path, version: str, data: bytes, sha1: str) -> None:
    folder = root / "org" / "keycloak" / "keycloak-quarkus-dist" / version
    folder.mkdir(parents=True)
    (folder / f"keycloak-quarkus-dist-{version}.zip").write_bytes(data)
    (folder / f"keycloak-quarkus-dist-{version}.zip.sha1").write_text(sha1)


def test_a_download_whose_published_sha1_does_not_match_is_rejected_and_not_cached(cache, fake_maven):
    _publish(fake_maven, "0.0.2", b"tampered bytes", _sha1(b"what maven built"))
    messages: list[str] = []
    with pytest.raises(ExternalError) as info:
        kc.ensure_zip("0.0.2", log=messages.append)
    url = kc.dist_url("0.0.2")
    assert info.value.message == (
        f"checksum mismatch for keycloak-quarkus-dist-0.0.2.part: SHA-1 is "
        f"{_sha1(b'tampered bytes')}, {url}.sha1 says {_sha1(b'what maven built')}"
    )
    assert messages[0] == f"[keycloak] downloading {url} (0 MB) into {cache / 'keycloak-quarkus-dist-0.0.2.zip'}"
    assert list(cache.glob("keycloak-quarkus-dist-0.0.2*")) == []


def test_a_download_with_a_matching_sha1_lands_in_the_cache(cache, fake_maven):
    _publish(fake_maven, "0.0.3", b"fine bytes", _sha1(b"fine bytes"))
    path = kc.ensure_zip("0.0.3", log=lambda _m: None)
    assert path.read_bytes() == b"fine bytes"
    assert kc.ensure_zip("0.0.3", log=lambda _m: pytest.fail("cached: nothing to say")) == path


def test_the_pinned_checksum_guards_a_download_of_the_pinned_version_too(cache, fake_maven):
    # Maven's .sha1 matches the (substituted) file, but the SHA-1 pinned in the code does not.
    _publish(fake_maven, "0.0.4", b"substituted", _sha1(b"substituted"))
    with pytest.raises(ExternalError) as info:
        kc.ensure_zip("0.0.4", expected_sha1=_sha1(b"what we pinned"), log=lambda _m: None)
    assert info.value.message.endswith(f"the SHA-1 pinned for Keycloak 0.0.4 says {_sha1(b'what we pinned')}")


def test_the_kid_verify_computes_from_the_database_is_keycloaks_kid():
    assert kid_from_certificate(REAL_KEYCLOAK_CERT) == REAL_KEYCLOAK_KID
