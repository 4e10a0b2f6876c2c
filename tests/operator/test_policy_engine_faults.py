"""The policy engine (OPA) restarts, or answers too slowly, while the operator provisions a storm of instances. The
webhook fails closed and says why; the operator reports admission as unavailable (not denied), keeps trying, and
the storm completes once OPA is back, with exactly one PVC and one pod per instance."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from jupyternetes import constants, kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev.cluster import LocalCluster
from tests.operator.conftest import condition, make_instance, make_template, wait_condition
from tests.support import processes
from tests.support.stacks import stop, webhook_stack

pytestmark = pytest.mark.cluster

INSTANCES = 20


@pytest.mark.parametrize("fault", ["restart", "slow"])
def test_a_storm_waits_out_the_policy_engine_and_completes_with_nothing_half_created(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path, fault: str
) -> None:
    names = [f"opa-{i:02d}" for i in range(INSTANCES)]
    with webhook_stack(cluster, opa_timeout_seconds=1) as stack:
        admin.create(make_template(namespace))
        for name in names:
            hub.create(make_instance(namespace, name))  # judged while OPA answers
        assert stack.opa.popen is not None
        port = int(stack.opa_url.rsplit(":", 1)[1])
        if fault == "restart":
            stop(cluster, stack.opa)
        else:
            os.killpg(stack.opa.popen.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            with processes.operator(cluster, tmp_path, identity=f"opa-{fault}", retry_max_seconds=2):
                stuck = wait_condition(admin, namespace, names[0], "Degraded", reason="AdmissionUnavailable")
                message = condition(stuck, "Degraded")["message"]
                assert "the policy engine (OPA at " in message
                assert ("is unreachable" if fault == "restart" else "did not answer") in message, message
                assert "nothing is admitted without a policy decision" in message
                assert condition(stuck, "Progressing")["status"] == "True"
                back = time.monotonic()
                if fault == "restart":
                    stack.opa, _ = components.start_opa(cluster, port=port)
                else:
                    os.killpg(stack.opa.popen.pid, signal.SIGCONT)
                for name in names:
                    wait_condition(admin, namespace, name, "Ready", timeout=120)
                recovered = time.monotonic() - back
        finally:
            if fault == "slow" and stack.opa.popen is not None and stack.opa.popen.poll() is None:
                os.killpg(stack.opa.popen.pid, signal.SIGCONT)
    selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
    for rt in (kube.POD, kube.PVC):
        owners = sorted(o["metadata"]["annotations"][constants.ANNOTATION_INSTANCE_NAME]
                        for o in admin.list(rt, namespace, labelSelector=selector)["items"])
        assert owners == names, f"{rt.plural}: expected exactly one per instance"
    cluster_mod.wait_for("every instance's Degraded to clear", lambda: all(
        condition(admin.get(kube.INSTANCE, n, namespace), "Degraded")["status"] == "False" for n in names),
        timeout=30)
    print(f"\npolicy engine ({fault}): all {INSTANCES} instances Ready {recovered:.1f} s after OPA was back")
