"""The operator publishes its sealing public key into the ConfigMap the hub mounts, with only the RBAC the chart
gives it (get and update of that one ConfigMap)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, rbac
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.operator.publish import PUBLIC_KEY_ENTRY
from tests.support import processes

pytestmark = pytest.mark.cluster


def test_the_operator_publishes_the_public_key_for_the_hub(cluster: LocalCluster, admin: kube.Kube,
                                                            tmp_path: Path) -> None:
    """Starts from an empty ConfigMap, as the chart creates it. Only the operator may change a stored one (an
    admission policy), so an earlier test's key is removed by deleting the ConfigMap, not by emptying it."""
    namespace = cluster.config.hub_namespace
    with contextlib.suppress(kube.NotFound):
        admin.delete(kube.CONFIG_MAP, rbac.SEALING_CONFIGMAP, namespace)
    cluster_mod.wait_for("the old ConfigMap to go",
                         lambda: not admin.exists(kube.CONFIG_MAP, rbac.SEALING_CONFIGMAP, namespace), timeout=30)
    admin.create({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": rbac.SEALING_CONFIGMAP, "namespace": namespace}, "data": {}})
    private, public = components.sealing_keys(cluster)
    with processes.operator(cluster, tmp_path, sealing_key_file=str(private),
                            public_key_configmap=f"{namespace}/{rbac.SEALING_CONFIGMAP}") as operator:
        def published() -> bool:
            data = admin.get(kube.CONFIG_MAP, rbac.SEALING_CONFIGMAP, namespace).get("data") or {}
            return data.get(PUBLIC_KEY_ENTRY) == public.read_text()

        cluster_mod.wait_for("the public key in the ConfigMap", published, timeout=60, interval=0.2)
        assert "published the sealing public key" in operator.log()


def test_a_missing_configmap_is_reported_not_fatal(cluster: LocalCluster, tmp_path: Path) -> None:
    private, _ = components.sealing_keys(cluster)
    with processes.operator(cluster, tmp_path, sealing_key_file=str(private),
                            public_key_configmap=f"{cluster.config.hub_namespace}/no-such-configmap") as operator:
        cluster_mod.wait_for("the operator to report the missing ConfigMap",
                             lambda: "cannot publish the sealing public key into ConfigMap default/no-such-configmap: "
                             "the operator's RBAC does not allow it" in operator.log(),
                             timeout=60, interval=0.2)
        # It carries on: it goes on to campaign for the lease and lead, which a process that had died could not.
        cluster_mod.wait_for("the operator to lead after the failure", lambda: "became the leader" in operator.log(),
                             timeout=60, interval=0.2)
        assert operator.alive()
