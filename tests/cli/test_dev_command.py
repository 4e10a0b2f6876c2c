"""`jupyternetes dev up` and `dev down`, run as a newcomer runs them: a background control plane whose kubeconfigs
work, and nothing left behind afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import supervisor, toolchain
from tests import seeds

pytestmark = pytest.mark.cluster

JUPYTERNETES = [sys.executable, "-m", "jupyternetes"]


def _component_pids(state_dir: Path) -> list[int]:
    """Processes whose command line mentions the state directory (every component is started with a path in it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(state_dir) in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def _a_user_reaches_a_server_through_the_hub(state_dir: Path, printed: str) -> None:
    """What the README promises: the printed hub URL, the admin token for scripts, and a working server."""
    hub = (state_dir / "hub-url").read_text().strip()
    token = (state_dir / "hub-token").read_text().strip()
    assert f"JupyterHub: {hub}" in printed and "password 'jupyternetes'" in printed
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


def test_dev_up_starts_in_the_background_and_dev_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "dev"
    try:
        up = subprocess.run([*JUPYTERNETES, "dev", "up", "--state-dir", str(state_dir)], capture_output=True,
                            text=True, timeout=600, check=False)
        assert up.returncode == 0, up.stderr
        for identity in cluster_mod.IDENTITIES:
            path = state_dir / ("kubeconfig" if identity == "admin" else f"kubeconfig-{identity}")
            assert f"kubeconfig ({identity}): {path}" in up.stdout
            assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        with kube.Kube(kube.KubeConfig.from_file(state_dir / "kubeconfig")) as admin:
            nodes = admin.list(kube.KNOWN_TYPES[("v1", "Node")])["items"]
        assert len(nodes) == cluster_mod.DEFAULT_NODE_COUNT
        assert _component_pids(state_dir), "no component is running after dev up returned"
        _a_user_reaches_a_server_through_the_hub(state_dir, up.stdout)
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
