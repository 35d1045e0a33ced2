"""The AWS world (moto, a call recorder, faults, a seeded topology) and the DR site for these tests."""

from tests.scripts.failover_world import standby  # noqa: F401 - the DR cluster and site
from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
