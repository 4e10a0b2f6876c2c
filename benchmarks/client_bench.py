"""The caller's CPU per Kubernetes API request: the components' client (`kube.AsyncKube`, over aiohttp) beside the
same requests through httpx's AsyncClient set up as that client was before (a pool of 10 kept-alive TLS connections),
in the same run, against the same small TLS server in another process (so its CPU is not counted).

Each round sends N requests (a POST with a small JSON body, answered with a 3 KB JSON object, as a create is) with 50
in flight over 10 connections, as the operator's workers do, and reads the process's CPU time around it. The two
clients alternate, `--rounds` times each.

Run: .venv/bin/python benchmarks/client_bench.py [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from report import emit

from jupyternetes import kube, pki
from jupyternetes.dev import cluster as cluster_mod

IN_FLIGHT = 50
CONNECTIONS = 10
PATH = "/api/v1/namespaces/default/configmaps"
BODY = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}

SERVER = """
import json, ssl, sys
from aiohttp import web
answer = json.dumps({"kind": "ConfigMap", "metadata": {"name": "x", "labels": {str(i): "v" * 40 for i in range(60)}}})
async def handle(request):
    await request.read()
    return web.Response(text=answer, content_type="application/json")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[2], sys.argv[3])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=context, print=None)
"""


async def _rounds(send: Any, requests: int) -> float:
    """CPU seconds of this process for `requests` requests, `IN_FLIGHT` at a time (after a warm-up)."""
    semaphore = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with semaphore:
            await send()

    await asyncio.gather(*(one() for _ in range(200)))
    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(requests)))
    return time.process_time() - started


async def _aiohttp_round(server: str, ca: Path, requests: int) -> float:
    async with kube.AsyncKube(kube.KubeConfig(server=server, ca_data=ca.read_bytes()),
                              max_connections=CONNECTIONS) as api:
        return await _rounds(lambda: api.request("POST", PATH, body=BODY), requests)


async def _httpx_round(server: str, ca: Path, requests: int) -> float:
    context = ssl.create_default_context(cafile=str(ca))
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server, verify=context, timeout=30, limits=limits) as client:
        async def send() -> None:
            response = await client.request("POST", PATH, content=json.dumps(BODY).encode(),
                                            headers={"Content-Type": "application/json", "Accept": "application/json",
                                                     "User-Agent": "jupyternetes"})
            response.json()
        return await _rounds(send, requests)


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="jupyternetes-client-bench-"))
    ca = pki.new_ca("client-bench")
    leaf = pki.issue(ca, "127.0.0.1", ip_addresses=["127.0.0.1"], server=True)
    (directory / "ca.crt").write_bytes(ca.cert_pem)
    leaf.write(directory / "tls.crt", directory / "tls.key")
    port = args.port or cluster_mod.free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(directory / "tls.crt"),
                               str(directory / "tls.key")])
    try:
        time.sleep(2)
        url = f"https://127.0.0.1:{port}"
        rounds: dict[str, list[float]] = {"aiohttp (kube.AsyncKube)": [], "httpx (as before)": []}
        for _ in range(args.rounds):
            rounds["aiohttp (kube.AsyncKube)"].append(
                asyncio.run(_aiohttp_round(url, directory / "ca.crt", args.requests)))
            rounds["httpx (as before)"].append(asyncio.run(_httpx_round(url, directory / "ca.crt", args.requests)))
        return {"machine": {"cpus": os.cpu_count()}, "requests_per_round": args.requests, "in_flight": IN_FLIGHT,
                "connections": CONNECTIONS,
                "cpu_ms_per_request": {name: [round(cpu / args.requests * 1000, 3) for cpu in values]
                                       for name, values in rounds.items()}}
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="the server's port (0: a free one)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    return emit(run(args), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
