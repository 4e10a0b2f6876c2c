"""The harness leaves no process or file behind: when the code using it fails, and when its process is killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

SCRIPT = """
import json, sys, time
from jupyternetes.dev import cluster
with cluster.running() as local:
    print(json.dumps({"state": str(local.state_dir), "pids": [p.popen.pid for p in local.processes]}), flush=True)
    if sys.argv[1] == "fail":
        raise RuntimeError("a failing test")
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; its parent (pytest's child) has gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _start(mode: str) -> tuple[subprocess.Popen[str], dict]:
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, child.stderr.read() if child.stderr else "no output"
    return child, json.loads(line)


def _wait_all_dead(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return [pid for pid in pids if _alive(pid)]


def test_an_exception_inside_the_harness_stops_every_process_and_removes_the_state(tmp_path: Path) -> None:
    child, info = _start("fail")
    assert len(info["pids"]) == 6  # etcd, apiserver, controller manager, scheduler, kwok, provisioner
    child.wait(60)
    assert child.returncode != 0
    assert _wait_all_dead(info["pids"]) == []
    assert not Path(info["state"]).exists()


def test_killing_the_harness_outright_takes_every_component_with_it() -> None:
    child, info = _start("sleep")
    assert all(_alive(pid) for pid in info["pids"])
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    try:
        assert _wait_all_dead(info["pids"]) == []
    finally:
        shutil.rmtree(info["state"], ignore_errors=True)
