"""The AWS world (moto, a call recorder, faults, a seeded topology) for ``drill --aws``'s tests."""

from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
