"""A real node's life on the host: a harness killed outright, with containers running, leaves changes behind, and the
next start (or `cleanup_stale`) puts the host back exactly as it was."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jupyternetes.dev import hostnet
from jupyternetes.dev import node as node_mod
from tests.support import processes

REASON = node_mod.why_not()
pytestmark = [pytest.mark.cluster, pytest.mark.real_node,
              pytest.mark.skipif(REASON is not None, reason=f"no real node on this machine: {REASON}")]

HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from jupyternetes import kube
    from jupyternetes.dev import cluster, node

    local = cluster.LocalCluster(Path(sys.argv[1]), cluster.ClusterConfig(nodes=0, real_node=True))
    local.start()
    real = node.RealNode(local)
    real.start()
    pause = real.images["pause"].pinned
    with local.kube() as admin:
        admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "left-running", "namespace": "default"},
                      "spec": {"automountServiceAccountToken": False,
                               "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                               "containers": [{"name": "c", "image": pause, "securityContext": {
                                   "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}})
        cluster.wait_for("the pod to run", lambda: admin.get(kube.POD, "left-running", "default")["status"].get(
            "phase") == "Running", 120)
    print("RUNNING", real.state_dir, flush=True)
    time.sleep(3600)
""")


def _shims(state_dir: str) -> list[int]:
    return sorted(processes.pids_with("containerd-shim", state_dir))


def test_a_killed_harness_leaves_its_containers_and_host_changes_and_the_next_start_removes_them_all(
    tmp_path: Path,
) -> None:
    before = hostnet.Snapshot.take(node_mod.watched_paths())
    assert node_mod.BRIDGE not in before.links and not node_mod.SNAPSHOT_FILE.exists(), \
        f"an earlier test left a node's changes behind: {before}"
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(tmp_path / "state")], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert harness.stdout is not None
    deadline = time.monotonic() + 600
    line = ""
    while time.monotonic() < deadline and harness.poll() is None:
        line = harness.stdout.readline()
        if line.startswith("RUNNING"):
            break
    assert line.startswith("RUNNING"), f"the harness did not get a pod running: {line}{harness.stdout.read()}"
    state_dir = line.split()[1]
    harness.kill()
    harness.wait()
    after = hostnet.Snapshot.take(node_mod.watched_paths())
    left = before.differences(after)
    # What a kill leaves: the shim and its container (they outlive containerd by design), the bridge, the address,
    # the guard and kube-router's chains, the cgroups.
    assert _shims(state_dir), "no shim outlived the harness; this test would prove nothing"
    assert "link jnt0" in left and f"address {node_mod.NODE_IP}/32 on lo" in left, \
        f"differences: {left}\nbefore: {before}\nafter: {after}"
    assert any("JUPYTERNETES-GUARD" in difference for difference in left)
    assert node_mod.SNAPSHOT_FILE.exists()

    assert node_mod.cleanup_stale() == []
    assert before.differences(hostnet.Snapshot.take(node_mod.watched_paths())) == []
    assert _shims(state_dir) == []
    assert [str(path) for path in node_mod._cgroup_dirs() if path.exists()] == []
    assert not Path(state_dir).exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert state_dir not in mounts and str(tmp_path) not in mounts
