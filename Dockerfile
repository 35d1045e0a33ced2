# The idp-dr runbook image: `idp-dr <command>` (bootstrap db, restore, verify, failover, drills).
# Built by you from a pinned checkout and pushed to your registry; the stack names it (runbook.image).
#   docker build -t <registry>/idp-dr:0.1.0 .
# Pin the base by digest in your registry mirror for reproducible builds (a tag is used here so the
# file stays readable; `docker buildx imagetools inspect python:3.11-slim-bookworm` shows the digest).
FROM python:3.11-slim-bookworm

# PostgreSQL client tools (pg_dump, pg_restore, psql) of the database's major version: pg_dump refuses a
# newer server than itself. PG_MAJOR must match database.engineVersion (a test checks the example
# stack's); PGDG's repository carries every supported major for Debian bookworm.
ARG PG_MAJOR=16
# kubectl for `drill --aws` run by the drill CronJob in the DR cluster (it uses the pod's service account), from
# the Kubernetes project's signed package repository; KUBECTL_MINOR within one minor of the clusters'.
ARG KUBECTL_MINOR=1.33
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg \
 && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc | gpg --dearmor -o /usr/share/keyrings/pgdg.gpg \
 && echo "deb [signed-by=/usr/share/keyrings/pgdg.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
    > /etc/apt/sources.list.d/pgdg.list \
 && curl -fsSL "https://pkgs.k8s.io/core:/stable:/v${KUBECTL_MINOR}/deb/Release.key" \
    | gpg --dearmor -o /usr/share/keyrings/kubernetes.gpg \
 && echo "deb [signed-by=/usr/share/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v${KUBECTL_MINOR}/deb/ /" \
    > /etc/apt/sources.list.d/kubernetes.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" kubectl \
 && apt-get purge -y curl gnupg && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml requirements.txt README.md ./
COPY components ./components
COPY contract ./contract
COPY policy ./policy
COPY scripts ./scripts
RUN pip install --no-cache-dir . && rm -rf /src

# Not root, and not the IdP's UID: the Job's securityContext runs as 10001 (components/standby/bootstrap.py).
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin idp-dr
USER 10001
WORKDIR /tmp
ENTRYPOINT ["idp-dr"]
CMD ["--help"]
