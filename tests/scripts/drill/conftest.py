"""The AWS world (moto, a call recorder, faults, a seeded topology) and the drill's for ``drill --aws``'s tests."""

from tests.scripts.drill_world import cluster, drill, idp, replicated_backups  # noqa: F401 - the drill's fixtures
from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
