"""Webhook benchmark on the real local control plane.

A. AdmissionReviews POSTed over TLS straight to the webhook (one uvicorn worker), for a typical pod: the seed's
   notebook pod as the operator creates it, which the webhook re-renders from its instance and template, compares,
   and checks against the floor and the policies. The load comes from vegeta (built from its Go module): a constant
   rate for p50/p99 (vegeta measures from each request's scheduled start), then as fast as 1, 4 and 16 workers go,
   for the highest sustained throughput. Each with OPA, and with the built-in floor alone.
B. Pod creation through the API server by the operator's identity, with the webhook registered versus not
   (alternating blocks): the difference at the median is what a user pays per pod.
C. A load shaped like Kyverno's published benchmark: many clients at once (100 by default) creating pods through the
   API server, webhook off then on; average and p95 latency of each, and what the webhook adds.

Run: .venv/bin/python benchmarks/webhook_bench.py [--rate 200] [--seconds 30] [--pods 100]
     [--clients 100 --client-pods 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from report import cpu_seconds, emit

from jupyternetes import constants, kube, models, render
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, rbac, toolchain
from jupyternetes.webhook import defaults

REPO = Path(__file__).resolve().parents[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(values, 0.50) * 1000, 2), "p99_ms": round(_pct(values, 0.99) * 1000, 2),
            "mean_ms": round(statistics.mean(values) * 1000, 2), "n": len(values)}


def _seed() -> tuple[dict[str, Any], dict[str, Any]]:
    template = kube.load_manifests((REPO / "examples" / "00-seed" / "template.yaml").read_text())[0]
    instance = kube.load_manifests((REPO / "examples" / "00-seed" / "instance.yaml").read_text())[0]
    instance.pop("status", None)
    return template, instance


def _instance(name: str) -> dict[str, Any]:
    _, instance = _seed()
    instance["metadata"]["name"] = name
    instance["spec"]["variables"]["jupyternetes.instance.name"] = name
    return instance


def _operator_pod(admin: kube.Kube, name: str) -> dict[str, Any]:
    """The pod the operator creates for instance `name`, with the mutating defaults already in it."""
    instance = admin.get(kube.INSTANCE, name, "default")
    template = admin.get(kube.TEMPLATE, "default-template", "kadense")
    pod = copy.deepcopy(render.render(models.parse_template(template), models.parse_instance(instance))
                        .pods[0].manifest)
    pod["spec"], _ = defaults.apply(pod["spec"], defaults.PodDefaults({"cpu": "2", "memory": "4Gi"}))
    pod["metadata"]["ownerReferences"] = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND,
                                           "name": name, "uid": instance["metadata"]["uid"], "controller": True}]
    return pod


def _review(pod: dict[str, Any], operator_user: str) -> bytes:
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
        "name": pod["metadata"]["name"], "operation": "CREATE",
        "userInfo": {"username": operator_user, "groups": ["system:serviceaccounts"]},
        "object": pod, "oldObject": None, "dryRun": False}}).encode()


def _vegeta(url: str, body: bytes, ca_pem: bytes, work: Path, **attack: str) -> dict[str, Any]:
    """One vegeta attack on /validate; its JSON report (latencies in nanoseconds)."""
    vegeta = toolchain.ensure(["vegeta"], log=False)["vegeta"]
    (work / "body.json").write_bytes(body)
    (work / "ca.pem").write_bytes(ca_pem)
    (work / "targets.txt").write_text(f"POST {url}/validate\nContent-Type: application/json\n@{work / 'body.json'}\n")
    options = [f"-{key.replace('_', '-')}={value}" for key, value in attack.items()]
    results = work / "results.bin"
    subprocess.run([str(vegeta), "attack", f"-targets={work / 'targets.txt'}", f"-root-certs={work / 'ca.pem'}",
                    "-keepalive=true", f"-output={results}", *options], check=True)
    report = subprocess.run([str(vegeta), "report", "-type=json", str(results)], check=True, capture_output=True,
                            text=True)
    return dict(json.loads(report.stdout))


def _direct(url: str, body: bytes, ca_pem: bytes, rate: float, seconds: float, pid: int | None = None,
            profile: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        _vegeta(url, body, ca_pem, work, rate="50/s", duration="5s")  # warm up
        profiler = None
        if profile is not None and pid is not None:
            # Collapsed stacks of the webhook at the fixed rate (py-spy from PyPI), to see where its time goes.
            profiler = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                                         "--nonblocking", "--output", str(profile)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu_before = cpu_seconds(pid) if pid is not None else None
        fixed = _vegeta(url, body, ca_pem, work, rate=f"{int(rate)}/s", duration=f"{int(seconds)}s")
        cpu = cpu_seconds(pid) - cpu_before if pid is not None and cpu_before is not None else None
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        best = 0.0
        for workers in (1, 4, 16):
            flat_out = _vegeta(url, body, ca_pem, work, rate="0", duration="10s", max_workers=str(workers),
                               workers=str(workers))
            best = max(best, float(flat_out["throughput"]))
    latencies = fixed["latencies"]
    return {"rate_per_s": rate, "p50_ms": round(latencies["50th"] / 1e6, 2), "p99_ms": round(latencies["99th"] / 1e6, 2),
            "max_ms": round(latencies["max"] / 1e6, 2), "success": fixed["success"],
            "requests": fixed["requests"], "max_throughput_per_s": round(best, 1),
            # The webhook's own CPU per review at the fixed rate (OPA's is not in it).
            "webhook_cpu_ms_per_review": round(cpu * 1000 / fixed["requests"], 3) if cpu is not None else None}



def _ca_pem(admin: kube.Kube, namespace: str) -> bytes:
    secret = admin.get(kube.SECRET, rbac.WEBHOOK_TLS_SECRET, namespace)
    return base64.b64decode(secret["data"]["ca-bundle.crt"])


def _create_pods(local: cluster_mod.LocalCluster, pods: list[dict[str, Any]]) -> list[float]:
    latencies = []
    with local.kube(cluster_mod.OPERATOR) as operator:
        for pod in pods:
            started = time.perf_counter()
            operator.create(pod)
            latencies.append(time.perf_counter() - started)
    return latencies


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()},
                               "parameters": {k: v for k, v in vars(args).items() if k not in ("output", "profile")}}
    local = cluster_mod.LocalCluster(Path(tempfile.mkdtemp(prefix="jupyternetes-bench-")))
    local.start()
    try:
        _, opa_url = components.start_opa(local)
        with_opa = components.start_webhook(local, opa_url, check_interval_seconds=1)
        floor_only = components.start_webhook(local, opa_url, name="webhook-floor-only", register=False,
                                              policy_engine="none", development=True)
        # The same webhook on asyncio's own event loop instead of uvloop (the default), for the loop's share.
        asyncio_loop = components.start_webhook(local, opa_url, name="webhook-asyncio-loop", register=False,
                                                event_loop="asyncio")
        template, _ = _seed()
        names = [f"bench-{i:04d}" for i in range(args.pods + 1)]
        crowd = {label: [f"crowd-{label}-{i:04d}" for i in range(args.client_pods)] for label in ("off", "on")}
        with local.kube(cluster_mod.OFFICER) as officer:
            officer.create(template)
        with local.kube(cluster_mod.HUB) as hub:
            for name in [*names, *crowd["off"], *crowd["on"]]:
                hub.create(_instance(name))
        with local.kube() as admin:
            await asyncio.sleep(1)  # let the webhook's caches see the instances
            body = _review(_operator_pod(admin, names[0]), components.operator_user(local))
            ca = _ca_pem(admin, local.config.system_namespace)
            pods = [_operator_pod(admin, name) for name in names[1:]]
            crowd_pods = {label: [_operator_pod(admin, name) for name in group] for label, group in crowd.items()}

        for label, webhook in (("with_opa", with_opa), ("with_opa_asyncio_loop", asyncio_loop),
                               ("floor_only", floor_only)):
            pid = webhook.process.popen.pid if webhook.process.popen else None
            results[f"direct_{label}"] = _direct(webhook.url, body, ca, args.rate, args.seconds, pid,
                                                 args.profile if label == "with_opa" else None)
            print(json.dumps(results), flush=True)

        # B: through the API server, registered and not, in alternating blocks.
        on: list[float] = []
        off: list[float] = []
        block = max(1, args.pods // 8)
        with local.kube() as admin:
            for index in range(0, len(pods), block):
                registered = (index // block) % 2 == 0
                if registered:
                    components.register_webhook(admin, local, with_opa.url)
                    await _wait_for_ca(admin)
                else:
                    components.unregister_webhook(admin)
                await asyncio.sleep(2)  # the API server's view of webhook configurations settles
                (on if registered else off).extend(_create_pods(local, pods[index:index + block]))
        results["pod_create_webhook_on"] = _summary(on)
        results["pod_create_webhook_off"] = _summary(off)
        results["added_at_median_ms"] = round((_pct(on, 0.5) - _pct(off, 0.5)) * 1000, 2)
        print(json.dumps(results), flush=True)

        # C: many clients at once through the API server, webhook off then on.
        if args.client_pods:
            with local.kube() as admin:
                components.unregister_webhook(admin)
                await asyncio.sleep(2)
                crowd_off = await _crowd(local, crowd_pods["off"], args.clients)
                components.register_webhook(admin, local, with_opa.url)
                await _wait_for_ca(admin)
                await asyncio.sleep(2)
                crowd_on = await _crowd(local, crowd_pods["on"], args.clients)
            results["crowd"] = {"clients": args.clients, "webhook_off": crowd_off, "webhook_on": crowd_on,
                                "added_mean_ms": round(crowd_on["mean_ms"] - crowd_off["mean_ms"], 2),
                                "added_p95_ms": round(crowd_on["p95_ms"] - crowd_off["p95_ms"], 2)}
    finally:
        local.stop()
    return results


async def _crowd(local: cluster_mod.LocalCluster, pods: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """`clients` clients creating `pods` through the API server as fast as they can, each pod timed from its
    request to the answer (as Kyverno's load tests time them)."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for pod in pods:
        queue.put_nowait(pod)
    latencies: list[float] = []
    failures = 0
    operator = local.async_kube(cluster_mod.OPERATOR)

    async def client() -> None:
        nonlocal failures
        while not queue.empty():
            pod = queue.get_nowait()
            started = time.perf_counter()
            try:
                await operator.create(pod)
            except kube.ApiError:
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await operator.aclose()
    return {"pods": len(pods), "failed": failures, "mean_ms": round(statistics.mean(latencies) * 1000, 2),
            "p95_ms": round(_pct(latencies, 0.95) * 1000, 2), "pods_per_s": round(len(latencies) / elapsed, 1)}


async def _wait_for_ca(admin: kube.Kube) -> None:
    for _ in range(200):
        configuration = admin.get(components.VWC, rbac.WEBHOOK_CONFIGURATION)
        if all(w["clientConfig"].get("caBundle") for w in configuration["webhooks"]):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the webhook did not fill in its caBundle")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100, help="clients at once in the crowd load (C)")
    parser.add_argument("--client-pods", type=int, default=1000, help="pods each way in the crowd load; 0: skip C")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--profile", type=Path, help="write py-spy's collapsed stacks of the webhook (with OPA) here")
    args = parser.parse_args()
    return emit(asyncio.run(run(args)), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
