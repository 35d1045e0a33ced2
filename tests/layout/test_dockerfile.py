"""The runbook image's Dockerfile, checked statically (there is no Docker daemon on this machine):
it installs the package the way users do, runs as the UID the Job's securityContext names, and
copies every package the console script imports."""

from __future__ import annotations

import re

from components.standby.spec import RUNBOOK_UID
from scripts.offline import REPO_ROOT

TEXT = (REPO_ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in TEXT.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_base_image_is_a_pinned_python_matching_the_package():
    [base] = [line.split()[1] for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base


def test_it_runs_as_the_jobs_uid_and_never_as_root():
    users = [line.split()[1] for line in INSTRUCTIONS if line.startswith("USER ")]
    assert users and users[-1] == str(RUNBOOK_UID)


def test_it_installs_the_package_and_enters_through_the_console_script():
    assert any("pip install --no-cache-dir ." in line for line in INSTRUCTIONS)
    assert 'ENTRYPOINT ["idp-dr"]' in INSTRUCTIONS
    copied = {line.split()[1] for line in INSTRUCTIONS if line.startswith("COPY ")}
    for package in ("components", "contract", "policy", "scripts"):
        assert package in copied, package


def test_the_client_tools_match_the_example_stacks_postgresql_major():
    from components.config import load_stack_config
    from scripts.offline import load_stack_file

    [arg] = [line for line in INSTRUCTIONS if line.startswith("ARG PG_MAJOR=")]
    config = load_stack_config(*load_stack_file(REPO_ROOT / "Pulumi.prod.yaml"))
    assert arg == f"ARG PG_MAJOR={config.database.engine_major}"
    assert any('"postgresql-client-${PG_MAJOR}"' in line for line in INSTRUCTIONS)


def test_kubectl_comes_from_the_signed_kubernetes_repository_at_a_supported_minor():
    """The drill CronJob runs kubectl in the pod: a minor within the supported clusters' versions."""
    from tests.security.test_manifests import KUBERNETES_VERSIONS

    [arg] = [line for line in INSTRUCTIONS if line.startswith("ARG KUBECTL_MINOR=")]
    minor = arg.split("=", 1)[1]
    assert any(v.startswith(minor + ".") for v in KUBERNETES_VERSIONS), minor
    assert (
        "signed-by=/usr/share/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v${KUBECTL_MINOR}/deb/" in TEXT
    )
    assert any(line.endswith('"postgresql-client-${PG_MAJOR}" kubectl \\') for line in INSTRUCTIONS)
