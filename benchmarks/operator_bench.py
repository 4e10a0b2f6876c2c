"""Operator benchmark on the real local control plane, each figure beside a baseline measured in the same run.

Baseline: the same PVCs and pods (rendered by the same renderer), created directly through the API by a plain client.
The operator's overhead is the ratio between the two.

1. Latency, one at a time: creation to pod created, and to Ready (baseline: to pod Running), p50/p95 over N.
2. Storm: M instances created at once: time until all are Ready (baseline: M PVC+pod pairs until all Running),
   and the operator's API requests per instance (from its own metrics).
3. Memory: the operator's resident memory with 0 and with K instances.

Run: .venv/bin/python benchmarks/operator_bench.py [--latency 200] [--storm 500] [--memory 1000] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report import cpu_seconds, emit

from jupyternetes import constants, kube, models, render
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import rbac
from jupyternetes.webhook import defaults

REPO = Path(__file__).resolve().parents[1]
CONCURRENCY = 50


def _seed_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed's template as the webhook stores it (with the secure defaults, which the admission policies hold the
    operator's pods to), and the seed's instance."""
    template = kube.load_manifests((REPO / "examples" / "00-seed" / "template.yaml").read_text())[0]
    for pod in template["spec"]["pods"]:
        # Small limits (so requests), so that a storm of thousands fits on the fake nodes, for both sides alike.
        pod["spec"], _ = defaults.apply(pod["spec"], defaults.PodDefaults({"cpu": "10m", "memory": "16Mi"}))
    instance = kube.load_manifests((REPO / "examples" / "00-seed" / "instance.yaml").read_text())[0]
    return template, instance


def _instance(namespace: str, name: str, template_namespace: str) -> dict[str, Any]:
    _, seed = _seed_documents()
    seed.pop("status", None)
    seed["metadata"] = {"name": name, "namespace": namespace}
    seed["spec"]["template"] = {"name": "default-template", "namespace": template_namespace}
    seed["spec"]["variables"]["jupyternetes.instance.name"] = name
    seed["spec"]["variables"]["jupyternetes.instance.namespace"] = namespace
    return seed


@dataclass
class Observer:
    """Watches pods and instances in one namespace and records when each first reached each milestone."""

    api: kube.AsyncKube
    namespace: str
    pod_added: dict[str, float] = field(default_factory=dict)
    pod_running: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _follow(self, rt: kube.ResourceType, handle: Any) -> None:
        version = (await self.api.list(rt, self.namespace, limit=1))["metadata"]["resourceVersion"]
        while True:
            try:
                async for event in self.api.watch(rt, self.namespace, resourceVersion=version, timeout=600):
                    if event["type"] == "BOOKMARK":
                        version = event["object"]["metadata"]["resourceVersion"]
                        continue
                    handle(event, time.monotonic())
                    version = event["object"]["metadata"].get("resourceVersion", version)
            except kube.ApiError:
                version = (await self.api.list(rt, self.namespace, limit=1))["metadata"]["resourceVersion"]

    def _pod(self, event: dict[str, Any], now: float) -> None:
        pod = event["object"]
        name = pod["metadata"]["name"]
        self.pod_added.setdefault(name, now)
        if (pod.get("status") or {}).get("phase") == "Running" and pod["status"].get("podIP"):
            self.pod_running.setdefault(name, now)

    def _instance(self, event: dict[str, Any], now: float) -> None:
        instance = event["object"]
        conditions = (instance.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            self.ready.setdefault(instance["metadata"]["name"], now)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._follow(kube.POD, self._pod)),
                      asyncio.create_task(self._follow(kube.INSTANCE, self._instance))]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


#: How long one step may take (raised with --step-timeout for runs of thousands).
STEP_TIMEOUT = 600.0


async def _wait(predicate: Any, timeout: float | None = None) -> None:
    timeout = timeout or STEP_TIMEOUT
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not finish in time")
        await asyncio.sleep(0.005)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"p50_ms": round(_pct(values, 0.5) * 1000, 1), "p95_ms": round(_pct(values, 0.95) * 1000, 1),
            "mean_ms": round(statistics.mean(values) * 1000, 1)}


def _rendered(namespace: str, name: str, template_namespace: str) -> render.Manifests:
    template, _ = _seed_documents()
    template["metadata"]["namespace"] = template_namespace
    return render.render(models.parse_template(template),
                         models.parse_instance(_instance(namespace, name, template_namespace)))


async def _create_plain(api: kube.AsyncKube, manifests: render.Manifests) -> None:
    """The same objects without what marks them as Jupyternetes' (its labels and annotation, which only the operator
    may set): what a plain client would create."""
    for obj in manifests.all():
        manifest = dict(obj.manifest)
        meta = dict(manifest["metadata"])
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items()
                          if not k.startswith(constants.LABEL_PREFIX) and k != constants.LABEL_MANAGED_BY}
        meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items()
                               if not k.startswith(constants.LABEL_PREFIX)}
        manifest["metadata"] = meta
        await api.create(manifest)


def _operator_requests_by_method(metrics_url: str) -> dict[str, float]:
    """The operator's API requests so far (its own counter), by HTTP method; those answered with an error under
    their method and status ("PATCH 409")."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:  # noqa: S310 - local metrics endpoint
        text = response.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("jupyternetes_operator_api_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            method = labels.split('method="', 1)[1].split('"', 1)[0]
            status = labels.split('status="', 1)[1].split('"', 1)[0] if 'status="' in labels else "200"
            key = method if status.startswith("2") else f"{method} {status}"
            counts[key] = counts.get(key, 0.0) + float(value)
    return counts


async def _settled_requests(metrics_url: str, quiet: float = 3.0) -> dict[str, float]:
    """The operator's request counts once they have not changed for `quiet` seconds."""
    last = _operator_requests_by_method(metrics_url)
    while True:
        await asyncio.sleep(quiet)
        now = _operator_requests_by_method(metrics_url)
        if now == last:
            return now
        last = now


def _operator_requests(metrics_url: str) -> float:
    return sum(_operator_requests_by_method(metrics_url).values())



def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _ensure_namespace(api: kube.AsyncKube, name: str) -> None:
    try:
        await api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except kube.Conflict:
        pass


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parameters = {k: v for k, v in vars(args).items() if k not in ("output", "profile")}
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "parameters": parameters}
    state = Path(tempfile.mkdtemp(prefix="jupyternetes-bench-"))
    local = cluster_mod.LocalCluster(state, cluster_mod.ClusterConfig(nodes=args.nodes))
    local.start()
    try:
        cfg = local.config
        admin = local.async_kube()
        template, _ = _seed_documents()
        await admin.create(template)

        # Baseline 1: plain client, one at a time.
        await _ensure_namespace(admin, "baseline")
        observer = Observer(admin, "baseline")
        observer.start()
        await asyncio.sleep(0.5)
        created, added, running = [], [], []
        for i in range(args.latency):
            manifests = _rendered("baseline", f"lat-{i:04d}", cfg.template_namespace)
            pod = manifests.pods[0].name
            t0 = time.monotonic()
            await _create_plain(admin, manifests)
            await _wait(lambda p=pod: p in observer.pod_running)
            created.append(t0)
            added.append(observer.pod_added[pod] - t0)
            running.append(observer.pod_running[pod] - t0)
        results["baseline_latency"] = {"to_pod_created": _ms(added), "to_pod_running": _ms(running)}
        print(json.dumps(results), flush=True)

        # Baseline 2: storm.
        t0 = time.monotonic()
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def plain(i: int) -> None:
            async with semaphore:
                await _create_plain(admin, _rendered("baseline", f"storm-{i:04d}", cfg.template_namespace))

        await asyncio.gather(*(plain(i) for i in range(args.storm)))
        storm_pods = {_rendered("baseline", f"storm-{i:04d}", cfg.template_namespace).pods[0].name
                      for i in range(args.storm)}
        await _wait(lambda: storm_pods <= observer.pod_running.keys())
        results["baseline_storm"] = {"all_running_s": round(time.monotonic() - t0, 2)}
        await observer.stop()

        # The operator, as `dev up` runs it.
        metrics_port, health_port = cluster_mod.free_port(), cluster_mod.free_port()
        env = dict(os.environ, JUPYTERNETES_OPERATOR_TEMPLATE_NAMESPACE=cfg.template_namespace,
                   JUPYTERNETES_OPERATOR_LEASE_NAMESPACE=cfg.system_namespace,
                   JUPYTERNETES_OPERATOR_METRICS_PORT=str(metrics_port),
                   JUPYTERNETES_OPERATOR_HEALTH_PORT=str(health_port))
        operator = local.spawn("operator", [sys.executable, "-m", "jupyternetes", "operator", "--kubeconfig",
                                            str(local.kubeconfig(cluster_mod.OPERATOR))], env=env)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        cluster_mod.wait_for("the operator", lambda: _operator_requests(metrics_url) >= 0, timeout=60,
                             process=operator)
        await _ensure_namespace(admin, "users")
        for obj in rbac.hub_objects("users", cfg.hub_namespace):  # the hub creates instances, as in a cluster
            await admin.create(obj)
        hub = local.async_kube(cluster_mod.HUB)
        observer = Observer(admin, "users")
        observer.start()
        await asyncio.sleep(2)
        results["operator_rss_mib_idle"] = round(_rss_mib(operator.popen.pid), 1)  # type: ignore[union-attr]

        added, ready = [], []
        for i in range(args.latency):
            name = f"lat-{i:04d}"
            pod = _rendered("users", name, cfg.template_namespace).pods[0].name
            t0 = time.monotonic()
            await hub.create(_instance("users", name, cfg.template_namespace))
            await _wait(lambda n=name: n in observer.ready)
            added.append(observer.pod_added[pod] - t0)
            ready.append(observer.ready[name] - t0)
        results["operator_latency"] = {"to_pod_created": _ms(added), "to_ready": _ms(ready)}
        print(json.dumps(results), flush=True)

        before = _operator_requests_by_method(metrics_url)
        pid = operator.popen.pid  # type: ignore[union-attr]
        cpu_before = cpu_seconds(pid)
        profiler = None
        if args.profile:
            # Collapsed stacks of the operator during the storm (py-spy from PyPI), for finding where its time goes.
            profiler = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                                         "--nonblocking", "--output", str(args.profile)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()

        async def instance(i: int) -> None:
            async with semaphore:
                await hub.create(_instance("users", f"storm-{i:04d}", cfg.template_namespace))

        await asyncio.gather(*(instance(i) for i in range(args.storm)))
        names = {f"storm-{i:04d}" for i in range(args.storm)}
        await _wait(lambda: names <= observer.ready.keys())
        results["operator_storm"] = {"all_ready_s": round(time.monotonic() - t0, 2),
                                     "operator_cpu_s": round(cpu_seconds(pid) - cpu_before, 2)}
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        after = await _settled_requests(metrics_url)  # trailing Events (a few in flight at a time) land first
        per_method = {m: round((after[m] - before.get(m, 0.0)) / args.storm, 2) for m in sorted(after)}
        results["operator_storm"]["api_requests_per_instance"] = round(sum(per_method.values()), 2)
        # POST: the objects it creates and its Events; PATCH: status writes; GET: reads by name.
        results["operator_storm"]["api_requests_per_instance_by_method"] = per_method

        extra = args.memory - args.latency - args.storm
        if extra > 0:
            cpu_before, t0 = cpu_seconds(pid), time.monotonic()
            await asyncio.gather(*(instance(args.storm + i) for i in range(extra)))
            names = {f"storm-{i:04d}" for i in range(args.storm + extra)}
            await _wait(lambda: names <= observer.ready.keys())
            results["operator_fill"] = {"instances": extra, "all_ready_s": round(time.monotonic() - t0, 2),
                                        "operator_cpu_s": round(cpu_seconds(pid) - cpu_before, 2)}
        await asyncio.sleep(2)
        results["operator_rss_mib_with_instances"] = {
            "instances": args.latency + args.storm + max(extra, 0),
            "rss_mib": round(_rss_mib(operator.popen.pid), 1),  # type: ignore[union-attr]
        }
        await observer.stop()
        await hub.aclose()
        await admin.aclose()
    finally:
        local.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--storm", type=int, default=500)
    parser.add_argument("--memory", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=cluster_mod.DEFAULT_NODE_COUNT,
                        help="kwok fake nodes (each takes 2,000 pods)")
    parser.add_argument("--step-timeout", type=float, default=600.0, help="seconds one step may take")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--profile", type=Path, help="write py-spy's collapsed stacks of the operator's storm here")
    args = parser.parse_args()
    global STEP_TIMEOUT
    STEP_TIMEOUT = args.step_timeout
    return emit(asyncio.run(run(args)), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
