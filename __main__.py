"""idp-dr Pulumi program: wiring only.

config (validated before anything is registered) -> providers (AWS primary,
AWS DR, AWS us-east-1, Kubernetes primary, Kubernetes DR) -> DrTopology ->
stack outputs (read by `python -m scripts failover/restore`).
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import NAMESPACE, ConfigError, load_stack_config, read_pulumi_config
from components.topology import DrTopology, Providers, Secrets

raw_config, secret_keys = read_pulumi_config()
try:
    config = load_stack_config(raw_config, secret_keys)
except ConfigError as exc:
    # A clean, trace-free failure: nothing has been registered yet.
    raise pulumi.RunError(f"stack configuration refused:\n{exc}") from None

providers = Providers(
    aws_primary=aws.Provider("aws-primary", region=config.primary_region),
    aws_dr=aws.Provider("aws-dr", region=config.dr_region),
    # Route 53 publishes health-check metrics (and so their alarms) only in us-east-1.
    aws_us_east_1=aws.Provider("aws-us-east-1", region="us-east-1"),
    k8s_primary=k8s.Provider("k8s-primary", context=config.kubernetes.primary.context),
    k8s_dr=k8s.Provider("k8s-dr", context=config.kubernetes.dr.context),
)

stack_config = pulumi.Config(NAMESPACE)
secrets = Secrets(
    db_app_password=stack_config.require_secret("dbAppPassword"),
    authentik_secret_key=stack_config.get_secret("authentikSecretKey"),
    master_password=stack_config.get_secret("masterPassword"),
    admin_password=stack_config.get_secret("adminPassword"),
)

topology = DrTopology(config.name, config, providers, secrets)
for key, value in topology.stack_outputs.items():
    pulumi.export(key, value)
