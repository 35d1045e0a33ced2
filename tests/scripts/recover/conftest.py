"""The AWS world (moto, a call recorder, faults, a seeded topology) and the primary site for these tests."""

from tests.scripts.recover_world import primary  # noqa: F401 - the primary cluster
from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
