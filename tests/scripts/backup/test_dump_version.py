"""The manifest's ``pg_dump_version`` is pg_dump's version, not the packager's last word (issue 27)."""

from __future__ import annotations

import pytest

from scripts.backup.dump import pg_dump_version


@pytest.mark.parametrize(
    ("line", "version"),
    [
        ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", "15.18"),
        ("pg_dump (PostgreSQL) 16.4\n", "16.4"),
        ("pg_dump (PostgreSQL) 17beta2\n", "17beta2"),
        ("pg_dump (PostgreSQL) 15.20 (Ubuntu 15.20-1.pgdg22.04+1)\n", "15.20"),
    ],
)
def test_the_version_is_postgresqls(line, version):
    assert pg_dump_version(line) == version
