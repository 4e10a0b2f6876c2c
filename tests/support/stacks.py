"""Components on top of a test control plane: OPA and the webhook (registered), for as long as a block runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, rbac
from jupyternetes.dev.cluster import LocalCluster


@dataclass
class Stack:
    opa: cluster_mod.Process
    opa_url: str
    webhook: components.Webhook


def stop(local: LocalCluster, *processes: cluster_mod.Process) -> None:
    for process in processes:
        process.stop()
        with contextlib.suppress(ValueError):
            local.processes.remove(process)


@contextlib.contextmanager
def webhook_stack(local: LocalCluster, policies: Path | None = None, **settings: object) -> Iterator[Stack]:
    """OPA and the webhook, registered with the API server, for as long as the block runs (with the policies in
    `policies`, else the shipped ones). The entitlements it publishes for the hub go with it."""
    opa, opa_url = components.start_opa(local, policies)
    try:
        webhook = components.start_webhook(local, opa_url, policies, **settings)
    except BaseException:
        stop(local, opa)
        raise
    stack = Stack(opa, opa_url, webhook)
    try:
        yield stack
    finally:
        stop(local, stack.webhook.process, webhook.process, opa)  # a test may have replaced the webhook
        with local.kube() as admin:
            components.unregister_webhook(admin)
            with contextlib.suppress(kube.NotFound):
                admin.delete(kube.CONFIG_MAP, rbac.ENTITLEMENTS_CONFIGMAP, local.config.hub_namespace)


