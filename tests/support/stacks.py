"""Components on top of a test control plane: OPA and the webhook (registered), for as long as a block runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
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
def webhook_stack(local: LocalCluster, **settings: object) -> Iterator[Stack]:
    """OPA and the webhook, registered with the API server, for as long as the block runs."""
    opa, opa_url = components.start_opa(local)
    try:
        webhook = components.start_webhook(local, opa_url, **settings)
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


