"""The real Keycloak lab of the verify tests, shared (one Keycloak per session)."""

from tests.integration.verify.conftest import keycloak_lab  # noqa: F401 - the session-scoped fixture
