"""`jupyternetes dev up` and `dev down`, run as a newcomer runs them: a background control plane whose kubeconfigs
work, and nothing left behind afterwards."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import hostnet, supervisor, toolchain
from jupyternetes.dev import node as node_mod
from tests import seeds
from tests.support import processes

pytestmark = pytest.mark.cluster

JUPYTERNETES = [sys.executable, "-m", "jupyternetes"]


def _component_pids(state_dir: Path) -> list[int]:
    """Processes whose command line mentions the state directory (every component is started with a path in it)."""
    return sorted(processes.pids_with(str(state_dir)))


def _a_user_reaches_a_server_through_the_hub(state_dir: Path, printed: str) -> None:
    """What the README promises: the printed hub URL, the admin token for scripts, and a working server."""
    hub = (state_dir / "hub-url").read_text().strip()
    token = (state_dir / "hub-token").read_text().strip()
    password_file = state_dir / "hub-password"
    assert f"JupyterHub: {hub}" in printed and f"password {password_file.read_text()!r}, also in {password_file}" \
        in printed
    assert password_file.stat().st_mode & 0o077 == 0 and len(password_file.read_text()) >= 16
    assert (state_dir / "hub-token").stat().st_mode & 0o077 == 0
    with httpx.Client(base_url=f"{hub}/hub/api", headers={"Authorization": f"token {token}"}, timeout=120) as api:
        api.post("/users/newcomer")
        assert api.post("/users/newcomer/server").status_code in (201, 202)
        deadline = time.monotonic() + 120
        while not api.get("/users/newcomer").json()["servers"].get("", {}).get("ready"):
            assert time.monotonic() < deadline, api.get("/users/newcomer").text
            time.sleep(0.5)
        user_token = api.post("/users/newcomer/tokens", json={"scopes": ["access:servers!user=newcomer"]}).json()
        status = httpx.get(f"{hub}/user/newcomer/api/status", timeout=30,
                           headers={"Authorization": f"token {user_token['token']}"})
        assert status.status_code == 200, status.text
        assert api.delete("/users/newcomer/server").status_code in (202, 204)


def _seed_becomes_ready(state_dir: Path) -> None:
    """The announcement's template (applied by the officer) and instance (by the hub) work under dev up."""
    template_yaml, instance_yaml = seeds.seed_yaml_blocks()
    kubectl = str(toolchain.TOOLS["kubectl"].path)
    for identity, text in (("officer", template_yaml), ("hub", instance_yaml)):
        done = subprocess.run([kubectl, "--kubeconfig", str(state_dir / f"kubeconfig-{identity}"), "apply", "-f",
                               "-"], input=text, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    name = yaml.safe_load(instance_yaml)["metadata"]["name"]
    with kube.Kube(kube.KubeConfig.from_file(state_dir / "kubeconfig")) as admin:
        def ready() -> bool:
            conditions = admin.get(kube.INSTANCE, name, "default").get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        cluster_mod.wait_for("the seed instance to become Ready under dev up", ready, timeout=60)


REAL_NODE_REASON = node_mod.why_not()


@pytest.mark.parametrize("kind", [
    "kwok",
    pytest.param("auto", marks=[pytest.mark.real_node, pytest.mark.skipif(
        REAL_NODE_REASON is not None, reason=f"no real node on this machine: {REAL_NODE_REASON}")]),
])
def test_dev_up_starts_in_the_background_and_dev_down_leaves_nothing(tmp_path: Path, kind: str) -> None:
    """`--node kwok` runs fake nodes and the kubelet stand-in; the default (`auto`) picks a real node on a machine
    that can run one, and its teardown leaves the host's network, mounts and cgroups as they were."""
    state_dir = tmp_path / "dev"
    before = hostnet.Snapshot.take(node_mod.watched_paths()) if kind == "auto" else None
    try:
        up = subprocess.run([*JUPYTERNETES, "dev", "up", "--state-dir", str(state_dir), "--node", kind],
                            capture_output=True, text=True, timeout=900, check=False)
        assert up.returncode == 0, up.stderr
        for identity in cluster_mod.IDENTITIES:
            path = state_dir / ("kubeconfig" if identity == "admin" else f"kubeconfig-{identity}")
            assert f"kubeconfig ({identity}): {path}" in up.stdout
            assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        with kube.Kube(kube.KubeConfig.from_file(state_dir / "kubeconfig")) as admin:
            nodes = admin.list(kube.KNOWN_TYPES[("v1", "Node")])["items"]
        if kind == "kwok":
            assert "Node: kwok's fake nodes with the kubelet stand-in (asked for with --node kwok)" in up.stdout
            assert len(nodes) == cluster_mod.DEFAULT_NODE_COUNT
        else:
            assert "Node: real (containerd, runc, the kubelet and kube-router on this machine; this machine can run " \
                   "a real node). Use --node kwok for fake nodes." in up.stdout
            assert [n["metadata"]["name"] for n in nodes] == [node_mod.NODE_NAME]
        assert _component_pids(state_dir), "no component is running after dev up returned"
        _a_user_reaches_a_server_through_the_hub(state_dir, up.stdout)
        if kind == "kwok":
            # The seed's image comes from quay.io, which a real node here cannot pull from.
            _seed_becomes_ready(state_dir)

        again = subprocess.run([*JUPYTERNETES, "dev", "up", "--state-dir", str(state_dir)], capture_output=True,
                               text=True, timeout=60, check=False)
        assert again.returncode == 0 and "already running" in again.stderr
    finally:
        down = subprocess.run([*JUPYTERNETES, "dev", "down", "--state-dir", str(state_dir)], capture_output=True,
                              text=True, timeout=120, check=False)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    while _component_pids(state_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _component_pids(state_dir) == []
    assert not state_dir.exists()
    assert supervisor.running_status(state_dir) is None
    if before is not None:
        assert before.differences(hostnet.Snapshot.take(node_mod.watched_paths())) == []
        assert not node_mod.SNAPSHOT_FILE.exists()
        assert [str(path) for path in node_mod._cgroup_dirs() if path.exists()] == []


class TestChoosingTheNode:
    """`dev up --node auto` takes a real node where the machine allows it and says why not elsewhere."""

    def test_auto_falls_back_to_kwok_and_says_why_in_one_line(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(node_mod, "why_not", lambda: "a real node needs root (containerd, runc, ...)")
        kind, why = supervisor.choose_node("auto")
        assert (kind, why) == ("kwok", "no real node here: a real node needs root (containerd, runc, ...)")

    def test_auto_takes_the_real_node_where_the_machine_allows(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(node_mod, "why_not", lambda: None)
        assert supervisor.choose_node("auto") == ("real", "this machine can run a real node")

    def test_asking_for_a_real_node_where_none_can_run_fails_with_the_reason(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(node_mod, "why_not", lambda: "the kernel has no overlay filesystem")
        with pytest.raises(node_mod.NodeError, match="--node real: this machine cannot run a real node: the "
                                                     "kernel has no overlay filesystem"):
            supervisor.choose_node("real")

    def test_kwok_is_taken_when_asked_for_even_where_a_real_node_could_run(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(node_mod, "why_not", lambda: None)
        assert supervisor.choose_node("kwok") == ("kwok", "asked for with --node kwok")
