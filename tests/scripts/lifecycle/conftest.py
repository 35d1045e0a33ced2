"""The AWS world, the primary site and the drill's DR site: the lifecycle's commands run one after another."""

from tests.scripts.drill_world import cluster, drill, idp, replicated_backups  # noqa: F401 - the drill's fixtures
from tests.scripts.failover_world import standby  # noqa: F401 - the DR cluster and site
from tests.scripts.recover_world import primary  # noqa: F401 - the primary cluster
from tests.scripts.world import aws_env, moto_session, sites, world  # noqa: F401 - fixtures shared by the AWS tests
