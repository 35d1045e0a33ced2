"""``audit``: configuration drift audits (the guide: a realm export is for configuration as code and
drift audits, never a backup).

* :mod:`scripts.audit.realm_config` – export, normalise and diff a Keycloak realm's configuration
* :mod:`scripts.audit.cli`          – ``audit realm-config``
"""
