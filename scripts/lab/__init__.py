"""Real parts on one machine, for the local drill, the integration tests and benches.

Production commands never import this package (an import contract checks it); what they need at
run time lives in :mod:`scripts.pg` and :mod:`scripts.processes`.

* :mod:`scripts.lab.postgres`       – a throwaway PostgreSQL 15 cluster
* :mod:`scripts.lab.s3`             – an S3-compatible store (``moto_server``) on loopback
* :mod:`scripts.lab.keycloak_dist`  – the Keycloak distribution from Maven Central, verified, built once
* :mod:`scripts.lab.keycloak`       – starting a real Keycloak on a PostgreSQL database, waiting until ready
* :mod:`scripts.lab.keycloak_admin` – a small admin REST client and a password login
"""
