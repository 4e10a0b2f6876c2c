"""Spawn storms through JupyterHub's REST API: the Jupyternetes spawner beside KubeSpawner, same control plane,
same run.

Two hubs run side by side on one local control plane (with the webhook, OPA and the operator): one with the
Jupyternetes spawner (instances in `default`, the hub's identity allowed nothing else), one with KubeSpawner
(`jupyterhub-kubespawner` from PyPI, pods and PVCs in `kubespawner`, with the RBAC that Zero to JupyterHub gives its
hub). Both ask for the same thing: a notebook pod with a 1 GiB PVC. The kubelet stand-in answers HTTP on every pod's
port (`--mode respond`), so what is measured is the path from the hub to a running, reachable pod.

For N users at once (100, then 500): time until every server is ready, failures, the hub process's CPU time and
every process's. Jupyternetes' storm of each size runs first, or KubeSpawner's with `--kubespawner-first`. With
`--apiserver-profile FILE`, Go's CPU profile of the API server over the first seconds of each storm is written to
FILE-<hub>-<n> (read it with `go tool pprof -top`).

Run: .venv/bin/python benchmarks/spawner_bench.py [--users 100 500] [--kubespawner-first]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from report import components_cpu, cpu_seconds, cpu_spent, emit

from jupyternetes import kube, pki
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, toolchain

KUBESPAWNER_NAMESPACE = "kubespawner"
IMAGE = "quay.io/jupyter/base-notebook:2026-11-16"
COMMON = """
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.api_page_max_limit = 2000
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 300
"""
KUBESPAWNER = COMMON + f"""
c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
c.KubeSpawner.namespace = "{KUBESPAWNER_NAMESPACE}"
c.KubeSpawner.image = "{IMAGE}"
c.KubeSpawner.storage_pvc_ensure = True
c.KubeSpawner.storage_capacity = "1Gi"
c.KubeSpawner.volumes = [{{"name": "home", "persistentVolumeClaim": {{"claimName": "{{pvc_name}}"}}}}]
c.KubeSpawner.volume_mounts = [{{"name": "home", "mountPath": "/home/jovyan"}}]
"""


def kubespawner_identity(local: cluster_mod.LocalCluster) -> Path:
    """A service account with the hub Role Zero to JupyterHub gives KubeSpawner, and a kubeconfig for it."""
    rules = [{"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims", "secrets", "services"],
              "verbs": ["get", "watch", "list", "create", "delete"]},
             {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "watch", "list"]}]
    with local.kube() as admin:
        admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KUBESPAWNER_NAMESPACE}})
        for obj in (
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hub", "namespace": KUBESPAWNER_NAMESPACE}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "hub", "namespace": KUBESPAWNER_NAMESPACE}, "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
             "metadata": {"name": "hub", "namespace": KUBESPAWNER_NAMESPACE},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
             "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": KUBESPAWNER_NAMESPACE}]},
        ):
            admin.create(obj)
        cluster_mod.wait_for("the default service account", lambda: admin.get(
            kube.KNOWN_TYPES[("v1", "ServiceAccount")], "default", KUBESPAWNER_NAMESPACE) is not None, timeout=30)
        token = admin.request("POST", f"/api/v1/namespaces/{KUBESPAWNER_NAMESPACE}/serviceaccounts/hub/token",
                              body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                    "spec": {"expirationSeconds": 86400}})["status"]["token"]
    path = local.state_dir / "kubeconfig-kubespawner"
    document = cluster_mod.kubeconfig_document(local.server, (local.pki_dir / "ca.crt").read_bytes(),
                                               {"token": token}, KUBESPAWNER_NAMESPACE)
    pki.write_private(path, yaml.safe_dump(document).encode())
    return path



def _apiserver_profile(local: cluster_mod.LocalCluster, output: Path, seconds: int) -> subprocess.Popen[bytes]:
    """Go's CPU profile of the API server for the next `seconds` (read with `go tool pprof -top OUTPUT`)."""
    kubectl = toolchain.TOOLS["kubectl"].path
    with output.open("wb") as sink:
        return subprocess.Popen([str(kubectl), "--kubeconfig", str(local.kubeconfig(cluster_mod.ADMIN)), "get",
                                 "--raw", f"/debug/pprof/profile?seconds={seconds}"], stdout=sink,
                                stderr=subprocess.DEVNULL)


async def _storm(hub: components.Hub, users: list[str], timeout: float, profile: Path | None = None,
                 processes: dict[str, int] | None = None,
                 apiserver: tuple[cluster_mod.LocalCluster, Path, int] | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"token {hub.token}"}
    # One connection per user, as a class of browsers has: a smaller pool would queue the start requests in this
    # client and send them to the hub in waves (each waits for an answer, up to the hub's slow_spawn_timeout). Idle
    # connections are dropped after 2 s, before the proxy (node's 5 s keep-alive) may close one under a request.
    limits = httpx.Limits(max_connections=len(users) + 10, max_keepalive_connections=len(users) + 10,
                          keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=hub.api_url, headers=headers, timeout=timeout, limits=limits) as api:
        await api.post("/users", json={"usernames": users})
        pid = hub.process.popen.pid  # type: ignore[union-attr]
        cpu_before = cpu_seconds(pid)
        everyone_before = components_cpu(processes or {})
        profiler = None
        if profile is not None:
            # Collapsed stacks of the hub during the storm (py-spy from PyPI).
            profiler = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                                         "--nonblocking", "--output", str(profile)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        apiserver_profiler = _apiserver_profile(*apiserver) if apiserver is not None else None
        started = time.monotonic()
        responses = await asyncio.gather(*(api.post(f"/users/{u}/server") for u in users), return_exceptions=True)
        # A start the hub refused, or whose request it dropped (counted as failed, with the error kept).
        refused = {u: r if isinstance(r, BaseException) else r.status_code for u, r in zip(users, responses, strict=True)
                   if isinstance(r, BaseException) or r.status_code not in (201, 202)}
        ready: set[str] = set()
        failed: set[str] = set()
        while len(ready) + len(failed) < len(users) and time.monotonic() - started < timeout:
            await asyncio.sleep(1)
            listing = (await api.get("/users", params={"limit": 2000})).json()
            for model in listing if isinstance(listing, list) else listing.get("items", []):
                if model["name"] not in users:
                    continue
                server = model["servers"].get("")
                if server and server["ready"]:
                    ready.add(model["name"])
                elif server is None and model.get("pending") is None and model["name"] not in ready:
                    failed.add(model["name"])
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pid) - cpu_before
        everyone = cpu_spent(everyone_before, components_cpu(processes or {}))
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        if apiserver is not None and apiserver_profiler is not None:
            apiserver_profiler.wait(timeout=apiserver[2] + 60)  # the profile ends `seconds` after the storm began
        await asyncio.gather(*(api.delete(f"/users/{u}/server") for u in users))
    return {"users": len(users), "all_ready_s": round(elapsed, 1) if len(ready) == len(users) else None,
            "elapsed_s": round(elapsed, 1),
            "ready": len(ready), "failed": len(failed | refused.keys()), "hub_cpu_s": round(cpu, 1),
            "start_requests_failed": {u: repr(r) for u, r in sorted(refused.items())},
            # CPU seconds of every process of the control plane during the storm (a hub's with its proxy's).
            "cpu_s_by_process": everyone}


async def _drained(local: cluster_mod.LocalCluster) -> None:
    with local.kube() as admin:
        for _ in range(600):
            pods = sum(len(admin.list(kube.POD, ns)["items"]) for ns in ("default", KUBESPAWNER_NAMESPACE))
            if pods == 0:
                return
            await asyncio.sleep(1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "users": args.users,
                               "order": "kubespawner first" if args.kubespawner_first else "jupyternetes first"}
    config = cluster_mod.ClusterConfig(pod_cidr_prefix="127.3", nodes=4,
                                       apiserver_profiling=args.apiserver_profile is not None)
    local = cluster_mod.LocalCluster(Path(tempfile.mkdtemp(prefix="jupyternetes-bench-")), config)
    local.start()
    try:
        _, opa_url = components.start_opa(local)
        components.start_webhook(local, opa_url)
        components.start_operator(local)
        components.start_kubelet(local, mode="respond")
        components.install_hub_template(local)
        jupyternetes_hub = components.start_hub(local, name="hub-jupyternetes", extra=COMMON, start_timeout=600)
        kubespawner_hub = components.start_hub(
            local, name="hub-kubespawner", extra=KUBESPAWNER, start_timeout=600,
            env={"KUBECONFIG": str(kubespawner_identity(local))})
        for count in args.users:
            hubs = [("jupyternetes", jupyternetes_hub), ("kubespawner", kubespawner_hub)]
            for label, hub in (hubs[::-1] if args.kubespawner_first else hubs):
                users = [f"{label[:4]}-{count}-{i:04d}" for i in range(count)]
                profile = args.profile.with_name(f"{args.profile.name}-{label}-{count}") if args.profile else None
                processes = {p.name: p.popen.pid for p in local.processes if p.popen is not None}
                apiserver = ((local, args.apiserver_profile.with_name(f"{args.apiserver_profile.name}-{label}-{count}"),
                              args.apiserver_profile_seconds) if args.apiserver_profile else None)
                results[f"{label}_{count}"] = await _storm(hub, users, args.timeout, profile, processes, apiserver)
                print(json.dumps(results), flush=True)
                await _drained(local)
    finally:
        if args.keep_logs:
            # Every component's log (hubs with their proxies, webhook, operator, API server), to look into a failure.
            shutil.copytree(local.log_dir, args.keep_logs, dirs_exist_ok=True)
        local.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--keep-logs", type=Path, help="copy every component's log to this directory at the end")
    parser.add_argument("--profile", type=Path, help="write py-spy's collapsed stacks of each hub to PROFILE-<hub>-<n>")
    parser.add_argument("--kubespawner-first", action="store_true",
                        help="run KubeSpawner's storm of each size before Jupyternetes' (to see what the order costs)")
    parser.add_argument("--apiserver-profile", type=Path,
                        help="write Go's CPU profile of the API server during each storm to PROFILE-<hub>-<n>")
    parser.add_argument("--apiserver-profile-seconds", type=int, default=30,
                        help="how much of each storm the API server's profile covers, from its start")
    args = parser.parse_args()
    return emit(asyncio.run(run(args)), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
