"""Run Jupyternetes components as real processes in tests, the way a Deployment would run them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from jupyternetes.dev.cluster import LocalCluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of a plain-HTTP GET of a component's local endpoint (/readyz, /healthz); (0, why) when nothing
    answers."""
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError as error:
        return 0, str(error)
    return answer.status_code, answer.text


def pids_with(*words: str) -> set[int]:
    """Processes (other than this one) whose command line contains every one of `words`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(word in command for word in words):
            found.add(int(entry.name))
    return found


def metric(port: int, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples on a component's /metrics (0 before the endpoint is up), over the
    samples whose labels include `labels`."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    total = 0.0
    for match in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.MULTILINE):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


class Component:
    """`python -m jupyternetes <args>` with its own log file; stopped with SIGTERM, or killed outright."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.args = args
        self.log_path = log_path
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Component:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "jupyternetes", *self.args], env=self.env,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Component:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def operator(cluster: LocalCluster, log_dir: Path, identity: str = "operator-0", **settings: Any) -> Component:
    """An operator with test-friendly timings; `settings` are OperatorSettings fields (lists given as JSON)."""
    env = dict(os.environ)
    defaults: dict[str, Any] = {
        "template_namespace": cluster.config.template_namespace,
        "lease_namespace": cluster.config.system_namespace,
        "lease_duration_seconds": 4,
        "lease_renew_seconds": 1,
        "identity": identity,
        "metrics_port": 0,
        "health_port": 0,
        "retry_base_seconds": 0.5,
        "retry_max_seconds": 5,
        "waiting_requeue_seconds": 0.5,
    }
    for key, value in {**defaults, **settings}.items():
        env[f"JUPYTERNETES_OPERATOR_{key.upper()}"] = str(value)
    log_dir.mkdir(parents=True, exist_ok=True)
    return Component(["operator", "--kubeconfig", str(cluster.kubeconfig("operator"))],
                     log_dir / f"{identity}-{int(time.time() * 1000)}.log", env)
