"""The audit's normalisation and comparison (no Keycloak needed), and its bad inputs."""

from __future__ import annotations

import io

import pytest

from scripts.audit.realm_config import MASK, compare, normalise, render
from scripts.cli import main


def test_order_ids_and_timestamps_do_not_matter():
    one = {
        "realm": "r",
        "id": "1",
        "clients": [{"clientId": "b", "id": "x", "redirectUris": ["2", "1"]}, {"clientId": "a", "createdTimestamp": 5}],
    }
    two = {
        "realm": "r",
        "id": "2",
        "clients": [{"clientId": "a", "createdTimestamp": 9}, {"clientId": "b", "id": "y", "redirectUris": ["1", "2"]}],
    }
    assert render(normalise(one)) == render(normalise(two))


def test_every_secret_looking_value_is_masked_whatever_keycloak_sent():
    doc = normalise(
        {
            "realm": "r",
            "clients": [{"clientId": "a", "secret": "s3cr3t-value"}],
            "components": [{"name": "k", "config": {"privateKey": ["-----BEGIN"], "certificate": ["MII"]}}],
            "smtpServer": {"password": "smtp-pass", "host": "mail"},
        }
    )
    text = render(doc)
    for value in ("s3cr3t-value", "-----BEGIN", "MII", "smtp-pass"):
        assert value not in text
    assert doc["clients"][0]["secret"] == MASK and doc["smtpServer"]["host"] == "mail"


def test_drift_names_what_changed_by_its_path():
    before = normalise(
        {
            "realm": "r",
            "bruteForceProtected": False,
            "clients": [{"clientId": "portal", "redirectUris": []}, {"clientId": "old"}],
        }
    )
    after = normalise(
        {
            "realm": "r",
            "bruteForceProtected": True,
            "clients": [{"clientId": "portal", "redirectUris": ["https://x/*"]}, {"clientId": "new"}],
        }
    )
    assert compare(before, after).lines() == [
        "~ bruteForceProtected: false -> true",
        '+ clients[clientId=new].clientId: "new"',
        '- clients[clientId=old].clientId: "old"',
        '~ clients[clientId=portal].redirectUris: [] -> ["https://x/*"]',
    ]
    assert compare(before, before).clean


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "a readable reference file written by --write"),
        ("{nope", "a reference file written by --write (this one is not JSON)"),
        ('{"clients": []}', "a reference file written by --write (no realm in it)"),
    ],
)
def test_a_bad_reference_is_refused_before_keycloak_is_asked(tmp_path, content, message):
    reference, secret = tmp_path / "ref.json", tmp_path / "secret"
    secret.write_text("x")
    if content is not None:
        reference.write_text(content)
    err = io.StringIO()
    code = main(
        [
            "audit",
            "realm-config",
            "--base-url",
            "http://127.0.0.1:9",
            "--realm",
            "r",
            "--client-id",
            "c",
            "--client-secret-file",
            str(secret),
            "--against",
            str(reference),
            "--quiet",
        ],
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2
    assert f"error: invalid --against '{reference}': {message}" in err.getvalue()
