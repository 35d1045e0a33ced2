"""The AWS world (its stack outputs file) for the bootstrap tests."""

from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
