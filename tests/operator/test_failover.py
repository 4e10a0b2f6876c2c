"""Leader failover in a storm: two replicas, 50 instances in flight, and the leader killed (SIGKILL) or frozen
(SIGSTOP, resumed with SIGCONT after its lease has expired) part-way through.

Who wrote what is read from the API server's audit log (the local control plane records every write by the
operator's identity, with the replica in the user agent), not from the operators' own logs: every create and patch
of a pod, PVC, Secret, Event or instance status must arrive while its sender holds the lease, judged by the lease
writes in the same log."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from jupyternetes import constants, kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.operator.leader import LEASE
from tests.operator.conftest import make_instance, make_template, wait_condition
from tests.support import processes

pytestmark = pytest.mark.cluster

INSTANCES = 50
WORK = {"pods", "persistentvolumeclaims", "secrets", "events", "jupyternotebookinstances"}
WRITES = {"create", "update", "patch", "delete"}


@dataclass(frozen=True)
class Write:
    at: str  # the API server's requestReceivedTimestamp (RFC 3339, microseconds: sorts as text)
    replica: str
    resource: str
    name: str
    code: int


def _writes(audit_log: Path, since: str) -> list[Write]:
    found = []
    for line in audit_log.read_text().splitlines():
        entry = json.loads(line)
        replica = re.search(r"\(([^()]+)\)$", entry.get("userAgent", ""))
        if entry.get("stage") != "ResponseComplete" or entry.get("verb") not in WRITES or replica is None:
            continue
        if entry["requestReceivedTimestamp"] < since:
            continue
        ref = entry.get("objectRef", {})
        resource = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
        found.append(Write(entry["requestReceivedTimestamp"], replica.group(1), resource, ref.get("name", ""),
                           entry.get("responseStatus", {}).get("code", 0)))
    return sorted(found, key=lambda w: w.at)


def _outside_tenure(writes: list[Write]) -> list[Write]:
    """Work writes whose sender was not the holder of the last lease write the API server had completed before the
    write arrived."""
    holder = None
    bad = []
    for write in writes:
        if write.resource == "leases" and write.code < 300:
            holder = write.replica
        elif write.resource.split("/")[0] in WORK and write.replica != holder:
            bad.append(write)
    return bad


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() % 1 * 1e6):06d}Z"


def _holder(admin: kube.Kube, cluster: LocalCluster) -> str | None:
    return admin.get(LEASE, "jupyternetes-operator", cluster.config.system_namespace)["spec"].get("holderIdentity")


@pytest.mark.parametrize("fault", ["none", "kill", "freeze"])
def test_a_leader_lost_mid_storm_leaves_one_pod_and_pvc_per_instance_and_only_the_holder_wrote(
    cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, namespace: str, tmp_path: Path, fault: str
) -> None:
    admin.create(make_template(namespace))
    # To the microsecond, as the audit log has it: the replicas of an earlier test may have written until just before.
    since = _now()
    first = processes.operator(cluster, tmp_path, identity=f"{fault}-a").start()
    second = None
    try:
        cluster_mod.wait_for(f"{fault}-a to lead", lambda: _holder(admin, cluster) == f"{fault}-a", timeout=30)
        second = processes.operator(cluster, tmp_path, identity=f"{fault}-b").start()
        cluster_mod.wait_for("the second replica to campaign", lambda: "waiting to become the leader" in
                             second.log(), timeout=30)
        names = [f"storm-{i:02d}" for i in range(INSTANCES)]
        began = time.monotonic()
        # The hub goes on creating instances while the fault happens (an operator quick enough would otherwise be
        # through the storm before the fault).
        creating = threading.Thread(target=lambda: [hub.create(make_instance(namespace, n)) for n in names])
        creating.start()
        selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
        cluster_mod.wait_for("the leader to be part-way through", lambda: len(admin.list(
            kube.PVC, namespace, labelSelector=selector)["items"]) >= 5, timeout=60, interval=0.05)
        faulted = time.monotonic()
        moments = {"fault": _now()}
        pods_at_fault = len(admin.list(kube.POD, namespace, labelSelector=selector)["items"])
        assert first.popen is not None
        took_over = 0.0
        if fault == "kill":
            first.kill()
        elif fault == "freeze":
            os.killpg(first.popen.pid, signal.SIGSTOP)
        if fault != "none":  # "none" is the baseline: the same storm from the same point, with no fault
            cluster_mod.wait_for("the second replica to take over",
                                 lambda: _holder(admin, cluster) == f"{fault}-b", timeout=60)
            took_over = time.monotonic() - faulted
        moments["took over"] = _now()
        creating.join(60)
        assert not creating.is_alive(), "the hub's instances were not all created within a minute"
        if fault == "freeze":
            moments["resumed"] = _now()
            os.killpg(first.popen.pid, signal.SIGCONT)
            cluster_mod.wait_for("the resumed replica to see it lost the lease and exit", lambda: not first.alive(),
                                 timeout=30)
            assert first.popen.returncode != 0
            assert "the leader lease was lost" in first.log()
        for name in names:
            wait_condition(admin, namespace, name, "Ready", timeout=180)
        recovered = time.monotonic() - faulted
        storm = time.monotonic() - began
    finally:
        if second is not None:  # the standby first: it would otherwise take over (and write) as the leader leaves
            second.stop()
        if first.popen is not None and first.alive():
            os.killpg(first.popen.pid, signal.SIGCONT)
        first.stop()
    assert pods_at_fault < INSTANCES, "the fault came after the storm was over; the test proved nothing"
    selector = f"{constants.LABEL_MANAGED_BY}={constants.MANAGED_BY}"
    for rt in (kube.POD, kube.PVC):
        owners = sorted(o["metadata"]["annotations"][constants.ANNOTATION_INSTANCE_NAME]
                        for o in admin.list(rt, namespace, labelSelector=selector)["items"])
        assert owners == sorted(names), f"{rt.plural}: expected exactly one per instance"
    writes = _writes(cluster.log_dir / "audit.log", since)
    replicas = {w.replica for w in writes if w.resource.split("/")[0] in WORK}
    # Both worked (so both were judged), or with no fault only the first.
    assert replicas == ({f"{fault}-a"} if fault == "none" else {f"{fault}-a", f"{fault}-b"}), replicas
    bad = _outside_tenure(writes)
    leases = [f"{w.at} {w.replica} {w.code}" for w in writes if w.resource == "leases"]
    assert bad == [], (f"{len(bad)} writes outside their sender's tenure, first {bad[:3]}; moments {moments}; "
                       f"lease writes {leases[-8:]}")
    print(f"\nfailover ({fault}): {pods_at_fault} of {INSTANCES} pods existed at the fault; the standby led "
          f"{took_over:.1f} s later; all {INSTANCES} Ready {recovered:.1f} s after the fault and "
          f"{storm:.1f} s after the storm began; "
          f"{len(writes)} writes audited, {len(bad)} outside their sender's tenure")
