"""Shared fixtures. `cluster` is one real local control plane for the whole session (started on first use)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import node as node_mod
from jupyternetes.dev import rbac


def pytest_sessionstart(session: pytest.Session) -> None:
    """Undo what a real node of an earlier, killed run left on this machine, as the node's next start would, so that
    the node tests' checks for leftovers catch this run's own. Whatever cannot be undone stops the run here."""
    if not node_mod.stale_node_left():
        return
    left = node_mod.cleanup_stale()
    if left:
        raise pytest.UsageError("a real node of an earlier run was killed, and its changes to this machine could not "
                                "all be undone: " + "; ".join(left))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("undid the changes a killed earlier run's real node had left on this machine")


@pytest.fixture(scope="session")
def cluster() -> Iterator[cluster_mod.LocalCluster]:
    with cluster_mod.running() as local:
        yield local


@pytest.fixture(scope="session")
def admin(cluster: cluster_mod.LocalCluster) -> Iterator[kube.Kube]:
    with cluster.kube(cluster_mod.ADMIN) as client:
        yield client


@pytest.fixture(scope="session")
def hub(cluster: cluster_mod.LocalCluster) -> Iterator[kube.Kube]:
    """JupyterHub's identity: the only one that may create instances (RBAC, the admission policy and the webhook)."""
    with cluster.kube(cluster_mod.HUB) as client:
        yield client


@pytest.fixture
def namespace(cluster: cluster_mod.LocalCluster, admin: kube.Kube) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards, where the hub may create instances as in its own."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for obj in rbac.hub_objects(name, cluster.config.hub_namespace):
        admin.create(obj)
    yield name
    admin.delete(kube.NAMESPACE, name)
