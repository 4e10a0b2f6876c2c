"""Publish the operator's sealing public key into a ConfigMap that the hub mounts, so the hub never needs to be
handed key material by hand and never needs to read a Secret. Every replica does it at start-up; all hold the same
key, so they write the same value."""

from __future__ import annotations

import logging
from typing import Final

from jupyternetes import kube, sealing
from jupyternetes.operator.settings import OperatorSettings

logger = logging.getLogger(__name__)

PUBLIC_KEY_ENTRY: Final = "sealing.pub"


async def publish_public_key(api: kube.AsyncKube, settings: OperatorSettings) -> bool:
    """Write the public half of the sealing key into `settings.public_key_configmap`; True when it holds it now.

    The ConfigMap must exist (the chart makes it): RBAC lets the operator update that one ConfigMap by name, not
    create ConfigMaps. A failure is logged, not fatal: spawns then fail in the spawner with a message about the key.
    """
    if not settings.public_key_configmap or not settings.sealing_key_file:
        return False
    namespace, name = settings.public_key_configmap.split("/")
    pem = sealing.public_key_pem(sealing.read_private_key(settings.sealing_key_file)).decode()
    try:
        configmap = await api.get(kube.CONFIG_MAP, name, namespace)
        if (configmap.get("data") or {}).get(PUBLIC_KEY_ENTRY) == pem:
            return True
        configmap.setdefault("data", {})[PUBLIC_KEY_ENTRY] = pem
        await api.replace(kube.CONFIG_MAP, configmap)
    except kube.NotFound:
        logger.error("cannot publish the sealing public key: ConfigMap %s/%s does not exist (the chart creates it; "
                     "create it empty, or unset public_key_configmap)", namespace, name)
        return False
    except kube.Forbidden as error:
        logger.error("cannot publish the sealing public key into ConfigMap %s/%s: the operator's RBAC does not allow "
                     "it (the chart allows get and update of its own <release>-sealing ConfigMap only): %s",
                     namespace, name, error)
        return False
    except kube.ApiError as error:
        logger.error("cannot publish the sealing public key into ConfigMap %s/%s: %s", namespace, name, error)
        return False
    logger.info("published the sealing public key in ConfigMap %s/%s (%s)", namespace, name, PUBLIC_KEY_ENTRY)
    return True
