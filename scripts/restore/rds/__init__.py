"""``restore rds``: RDS point-in-time restore (also a library function, used by ``failover``)."""
