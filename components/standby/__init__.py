"""The identity provider on one Kubernetes cluster (one site): :class:`IdentityStandby`.

* :mod:`~components.standby.spec`      – what a site is given (:class:`IdentityStandbyArgs`, :class:`IdpSpec`)
* :mod:`~components.standby.component` – the component: namespace, service accounts, PDB, outputs
* :mod:`~components.standby.secrets`   – DB credentials and authentik's key (External Secrets or Pulumi)
* :mod:`~components.standby.pods`      – pod hardening and the Deployment shape both IdPs share
* :mod:`~components.standby.keycloak`, :mod:`~components.standby.authentik` – one builder per IdP
* :mod:`~components.standby.ingress`   – the Service and the public and health Ingresses
"""

from components.standby.component import IdentityStandby
from components.standby.spec import IdentityStandbyArgs, IdpSpec, SecretSources

__all__ = ["IdentityStandby", "IdentityStandbyArgs", "IdpSpec", "SecretSources"]
