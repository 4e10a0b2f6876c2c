"""A watch that fails for good (403 Forbidden after an RBAC change) is logged, counted and named in /readyz, and the
operator watches again once its RBAC allows it, instead of going on silently without seeing that kind."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import rbac
from jupyternetes.dev.cluster import LocalCluster
from tests.operator.conftest import make_instance, make_template, wait_condition
from tests.support import processes

pytestmark = pytest.mark.cluster

CLUSTER_ROLE = kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "ClusterRole")]


def _set_rules(admin: kube.Kube, rules: list[dict[str, Any]]) -> None:
    role = admin.get(CLUSTER_ROLE, rbac.OPERATOR_ACCOUNT)
    role["rules"] = rules
    admin.replace(CLUSTER_ROLE, role)


@pytest.fixture
def pods_unlistable(admin: kube.Kube) -> Iterator[list[dict[str, Any]]]:
    """The operator's ClusterRole without list and watch on pods (as after a bad RBAC change); put back after."""
    rules = rbac.operator_cluster_rules()
    narrowed = [r for r in copy.deepcopy(rules) if "pods" not in r["resources"]]
    narrowed += [{"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch",
                                                                                        "create"]},
                 {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "create"]}]
    _set_rules(admin, narrowed)
    try:
        yield rules
    finally:
        _set_rules(admin, rules)


def test_a_watch_rbac_refuses_is_logged_counted_named_in_readyz_and_restarted_once_allowed(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path,
    pods_unlistable: list[dict[str, Any]]
) -> None:
    health, metrics_port = processes.free_port(), processes.free_port()
    with processes.operator(cluster, tmp_path, identity="watch-failures", health_port=health,
                            metrics_port=metrics_port, retry_max_seconds=2) as operator:
        status, body = 0, ""

        def not_ready() -> bool:
            nonlocal status, body
            status, body = processes.http_get(health, "/readyz")
            return status == 503

        cluster_mod.wait_for("/readyz to report the failed watch", not_ready, timeout=60)
        assert "the watch of pods.v1 in all namespaces failed" in body, body
        assert '403 pods is forbidden' in body and 'cannot list resource "pods"' in body, body
        assert processes.http_get(health, "/healthz")[0] == 200  # alive: a restart would not fix RBAC
        assert processes.metric(metrics_port, "jupyternetes_operator_watch_failures_total", resource="pods.v1") >= 1
        cluster_mod.wait_for("the log to say it keeps trying", lambda: "still cannot watch: listing pods.v1" in
                             operator.log(), timeout=30)
        assert "check the operator's RBAC" in operator.log()

        _set_rules(admin, pods_unlistable)
        cluster_mod.wait_for("/readyz to be ready again", lambda: processes.http_get(health, "/readyz") == (200, "ok\n"),
                             timeout=60)
        assert "restarting the operator's watches" in operator.log()
        # The restarted watches see pods again: an instance becomes Ready (its pod's Running is seen).
        admin.create(make_template(namespace))
        hub.create(make_instance(namespace, "gil"))
        wait_condition(admin, namespace, "gil", "Ready", timeout=90)
        assert processes.http_get(health, "/readyz")[0] == 200
