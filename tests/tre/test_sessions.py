"""Session limits: the webhook fills a template's limit into its pods as activeDeadlineSeconds and refuses a longer
one; at the deadline the pod is stopped (here by the kubelet stand-in, as the kubelet does), the instance's status
says why, and the spawner tells the hub the server has stopped, and the user why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev.cluster import LocalCluster
from tests.operator.conftest import condition, wait_condition
from tests.security.drills import refused_by, unique
from tests.spawner.mock import spawner
from tests.support import processes
from tests.support.stacks import stop
from tests.tre.conftest import NAMESPACE, instance, store, template

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def kubelet(cluster: LocalCluster, operator: processes.Component) -> Iterator[cluster_mod.Process]:
    process = components.start_kubelet(cluster, mode="respond")
    yield process
    stop(cluster, process)


@pytest.mark.parametrize(("name", "limit"), [("tre-open", 28800), ("tre-short", 20), ("tre-gpu-v100", 7200)])
def test_a_template_gets_its_limit_filled_in(officer: kube.Kube, name: str, limit: int) -> None:
    stored = store(officer, template(name))
    assert stored["spec"]["pods"][0]["spec"]["activeDeadlineSeconds"] == limit


def test_a_template_that_sets_a_shorter_deadline_keeps_it(officer: kube.Kube) -> None:
    stored = store(officer, template("tre-gpu-v100", activeDeadlineSeconds=600))
    assert stored["spec"]["pods"][0]["spec"]["activeDeadlineSeconds"] == 600


@pytest.mark.parametrize(("name", "limit"), [("tre-open", 28800), ("tre-gpu-a100", 7200)])
def test_a_longer_deadline_is_refused(officer: kube.Kube, name: str, limit: int) -> None:
    with pytest.raises(kube.Forbidden) as refused:
        officer.create(template(name, activeDeadlineSeconds=limit + 1), dryRun="All")
    assert refused_by(refused.value.message) == "webhook:templates.validate.jupyternetes.kadense.io"
    assert (f"spec.pods[0].spec.activeDeadlineSeconds: lets the server run for {limit + 1} seconds; the most "
            f"allowed is {limit} (rule sessions)") in refused.value.message


def test_a_grace_period_that_would_outlive_the_limit_is_refused(officer: kube.Kube) -> None:
    """Found by a red team: at the deadline the kubelet gives the pod its termination grace period (preStop hooks run
    inside it), so a template with a month of grace ran on for a month."""
    with pytest.raises(kube.Forbidden) as refused:
        officer.create(template("tre-open", terminationGracePeriodSeconds=2592000), dryRun="All")
    assert ("terminationGracePeriodSeconds: lets the server run on for 2592000 seconds after its session limit; the "
            "most allowed is 300 (rule sessions)") in refused.value.message


def _spawner_of(cluster: LocalCluster, body: dict[str, Any]) -> Any:
    made = spawner("jovyan", kubeconfig=str(cluster.kubeconfig("hub")), namespace=NAMESPACE,
                   operator_public_key=str(components.sealing_keys(cluster)[1]))
    made.load_state({"instance_name": body["metadata"]["name"], "instance_namespace": NAMESPACE,
                     "instance_uid": body["metadata"]["uid"]})
    return made


async def test_at_the_deadline_the_server_stops_and_the_hub_learns_why(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, officer: kube.Kube,
    kubelet: cluster_mod.Process
) -> None:
    store(officer, template("tre-short"))
    name = unique("short")
    created = hub.create(instance(name, "tre-short"))
    wait_condition(admin, NAMESPACE, name, "Ready")
    server = _spawner_of(cluster, created)
    assert await server.poll() is None
    stopped = wait_condition(admin, NAMESPACE, name, "Ready", status="False", reason="PodFailed", timeout=90)
    pod = stopped["status"]["pods"]["notebook"]
    assert pod["state"] == "Failed"
    assert pod["errorMessage"] == "DeadlineExceeded: the server reached its session limit of 20 seconds"
    assert admin.get(kube.POD, pod["resourceName"], NAMESPACE)["status"]["reason"] == "DeadlineExceeded"
    assert condition(stopped, "Degraded")["status"] == "True"
    assert await server.poll() == 1
    assert "because it reached its session limit of 20 seconds, set by your administrators" in server.stop_reason
    await server.stop()
    server.clear_state()
    assert server.get_state()["stop_reason"] == server.stop_reason  # kept in the hub's database through the stop
    cluster_mod.wait_for("the instance to go", lambda: not admin.exists(kube.INSTANCE, name, NAMESPACE), timeout=60)
