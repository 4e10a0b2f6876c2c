"""Ten thousand users through JupyterHub, on kwok's fake nodes: the Jupyternetes spawner (with the webhook, OPA and the
operator) beside KubeSpawner as the baseline, same control plane, same run.

Each side's hub is asked to start N servers (10,000 by default): N users pressing Start at a steady rate (`--rate`,
10 a second by default; docs/benchmarks.md's run used 8), each start request on a connection of its own (at most
`--connections` at once). Both hubs have Zero to JupyterHub's `hub.concurrentSpawnLimit` (64 spawns under way at
once, `--concurrent-spawn-limit`): a start past it is answered 429 with a Retry-After, and this client asks again
after that long, as a user would press Start again; the count of those is reported. All at once instead (a rate far
above what the hub can take, and no limit) is not a load a hub survives at this size, whichever the spawner: with
thousands of spawns pending, JupyterHub's own work kept its event loop from running anything else for up to 27 s at
a time, and every client's timeouts then fired. What is measured on each side:

- the time from the first start request until the hub has every server ready: spawned, answering HTTP and added to
  the proxy, which is when the REST API calls it ready. It is counted by JupyterHub's own metrics, read every 2 s
  (listing 10,000 users that often would cost the hub more than the spawns): routes added to the proxy
  (`jupyterhub_proxy_add_duration_seconds_count{status="success"}`), and failed spawns
  (`jupyterhub_server_spawn_duration_seconds_count{status="failure"}`, less the starts turned away before a spawn
  began, which are asked again);
- every component's CPU time over the side's run (this client's too: it shares the two cores), and its resident
  memory (the process and its children: a hub's with its proxy's) at the end, with the servers still running.

The servers are left running: the second side starts with the first side's N servers still in place (the first side
is Jupyternetes' unless `--kubespawner-first`), so the second runs on a fuller cluster. Each side's pods are answered
by a kubelet stand-in of its own (`--mode respond`, one listening socket per pod), as one process may not hold the
sockets of both. Pod IPs come from 127.3.<node>.0/24, 254 per fake node, so `--nodes` (100 by default) must hold
both sides' pods.

Run: .venv/bin/python benchmarks/scale_bench.py [--users 10000] [--rate 10] [--output FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from report import components_cpu, cpu_seconds, cpu_spent, emit, tree_rss_mib
from spawner_bench import COMMON, KUBESPAWNER, KUBESPAWNER_NAMESPACE, kubespawner_identity

from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components

#: The hub's metrics are read without a token in this benchmark.
METRICS = "\nc.JupyterHub.authenticate_prometheus = False\n"
PODS_PER_NODE = 254


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of every sample of `name` in Prometheus' text format whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        key, _, value = line.rpartition(" ")
        sample, _, rest = key.partition("{")
        if sample != name or any(f'{k}="{v}"' not in rest for k, v in labels.items()):
            continue
        total += float(value)
    return total


async def _side(hub: components.Hub, users: list[str], rate: float, connections: int, timeout: float,
                processes: dict[str, int]) -> dict[str, Any]:
    headers = {"Authorization": f"token {hub.token}"}
    # Were the rate more than the hub answers, start requests would queue on this semaphore, not in httpx's pool
    # (which spends time in proportion to its waiters on every request: 10,000 of them kept this process busy for
    # minutes before the first was sent). A few connections more are left for reading the metrics.
    gate = asyncio.Semaphore(connections)
    retries: list[int] = []
    limits = httpx.Limits(max_connections=connections + 5, max_keepalive_connections=connections + 5,
                          keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=hub.api_url, headers=headers, timeout=timeout, limits=limits) as api:
        async def start(index: int, user: str) -> httpx.Response:
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            while True:
                async with gate:
                    answer = await api.post(f"/users/{user}/server")
                if answer.status_code != 429:
                    return answer
                retries.append(1)
                await asyncio.sleep(float(answer.headers.get("Retry-After") or 5))

        for first in range(0, len(users), 1000):
            (await api.post("/users", json={"usernames": users[first:first + 1000]})).raise_for_status()
        metrics_url = hub.url.rstrip("/") + "/hub/metrics"

        async def counts() -> tuple[float, float]:
            text = (await api.get(metrics_url)).text
            spawn = "jupyterhub_server_spawn_duration_seconds_count"
            # Failures, less the starts the hub turned away before a spawn began (throttled, already pending, too many
            # users): those are asked again.
            turned_away = sum(metric(text, spawn, status="failure", reason=reason)
                              for reason in ("throttled", "already-pending", "too-many-users"))
            return (metric(text, "jupyterhub_proxy_add_duration_seconds_count", status="success"),
                    metric(text, spawn, status="failure") - turned_away)

        running_before, failed_before = await counts()
        cpu_before = components_cpu(processes)
        started = time.monotonic()
        own_cpu_before = cpu_seconds(os.getpid())
        requests = asyncio.gather(*(start(i, u) for i, u in enumerate(users)), return_exceptions=True)
        progress: list[tuple[float, int]] = []
        running = failed = 0.0
        while time.monotonic() - started < timeout:
            await asyncio.sleep(2)
            now_running, now_failed = await counts()
            running, failed = now_running - running_before, now_failed - failed_before
            progress.append((round(time.monotonic() - started, 1), int(running)))
            print(f"{progress[-1][0]:8.1f} s: {int(running)} running, {int(failed)} failed", flush=True)
            if running + failed >= len(users):
                break
        elapsed = time.monotonic() - started
        cpu = cpu_spent(cpu_before, components_cpu(processes))
        # This process shares the two cores with what it measures.
        cpu["benchmark client"] = round(cpu_seconds(os.getpid()) - own_cpu_before, 1)
        try:
            answers = await asyncio.wait_for(requests, 120)
        except TimeoutError:  # a side that ran out of time: its start requests still waiting are given up
            answers = [TimeoutError("still waiting when the side ran out of time")]
    refused = [a for a in answers if isinstance(a, BaseException) or a.status_code not in (201, 202)]
    return {"users": len(users), "connections": connections,
            "all_running_s": round(elapsed, 1) if running >= len(users) else None, "elapsed_s": round(elapsed, 1),
            "running": int(running), "failed_spawns": int(failed), "start_requests_refused": len(refused),
            "start_requests_throttled": len(retries),
            "first_refusals": [repr(a) if isinstance(a, BaseException) else a.status_code for a in refused[:5]],
            "cpu_s_by_process": cpu,
            "rss_mib_by_process_at_end": {name: tree_rss_mib(pid) for name, pid in processes.items()},
            "running_every_2s": progress}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.nodes * PODS_PER_NODE < 2 * args.users * 1.2:
        raise SystemExit(f"--nodes {args.nodes} gives {args.nodes * PODS_PER_NODE} pod IPs; both sides' "
                         f"{2 * args.users} pods, with room for an uneven spread, need more nodes")
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "users": args.users,
                               "rate_per_s": args.rate, "connections": args.connections, "nodes": args.nodes,
                               "concurrent_spawn_limit": args.concurrent_spawn_limit,
                               "order": "kubespawner first" if args.kubespawner_first else "jupyternetes first"}
    config = cluster_mod.ClusterConfig(pod_cidr_prefix="127.3", nodes=args.nodes)
    local = cluster_mod.LocalCluster(Path(tempfile.mkdtemp(prefix="jupyternetes-scale-")), config)
    local.start()
    try:
        _, opa_url = components.start_opa(local)
        components.start_webhook(local, opa_url)
        components.start_operator(local)
        components.start_kubelet(local, mode="respond", namespace=local.config.hub_namespace)
        components.start_kubelet(local, mode="respond", namespace=KUBESPAWNER_NAMESPACE)
        components.install_hub_template(local)
        limit = f"c.JupyterHub.concurrent_spawn_limit = {args.concurrent_spawn_limit}\n"
        hubs = {"jupyternetes": components.start_hub(local, name="hub-jupyternetes", extra=COMMON + METRICS + limit,
                                                     start_timeout=3600),
                "kubespawner": components.start_hub(
                    local, name="hub-kubespawner", extra=KUBESPAWNER + METRICS + limit, start_timeout=3600,
                    env={"KUBECONFIG": str(kubespawner_identity(local))})}
        order = ["kubespawner", "jupyternetes"] if args.kubespawner_first else ["jupyternetes", "kubespawner"]
        for label in order:
            users = [f"{label[:4]}-{i:05d}" for i in range(args.users)]
            processes = {p.name: p.popen.pid for p in local.processes if p.popen is not None}
            results[label] = await _side(hubs[label], users, args.rate, args.connections, args.timeout, processes)
            print(json.dumps({label: {k: v for k, v in results[label].items() if k != "running_every_2s"}}),
                  flush=True)
    finally:
        if args.keep_logs:
            # Every component's log (hubs with their proxies, webhook, operator, API server), to look into a failure.
            shutil.copytree(local.log_dir, args.keep_logs, dirs_exist_ok=True)
        local.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=10, help="users pressing Start per second")
    parser.add_argument("--connections", type=int, default=500, help="start requests in flight at most")
    parser.add_argument("--concurrent-spawn-limit", type=int, default=64,
                        help="each hub's c.JupyterHub.concurrent_spawn_limit (Zero to JupyterHub's default: 64)")
    parser.add_argument("--nodes", type=int, default=100, help="kwok fake nodes (254 pod IPs each)")
    parser.add_argument("--timeout", type=float, default=3600, help="how long each side may take")
    parser.add_argument("--kubespawner-first", action="store_true")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--keep-logs", type=Path, help="copy every component's log to this directory at the end")
    args = parser.parse_args()
    return emit(asyncio.run(run(args)), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
