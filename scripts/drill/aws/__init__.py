"""``drill --aws``: a failover by restore rehearsed in the DR region (see :mod:`scripts.drill.aws.drill`)."""
