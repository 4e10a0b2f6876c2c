"""`jupyternetes dev up` in the background: a detached supervisor that owns the local control plane.

`dev up` starts this module as its own session, waits until it writes `DIR/status.json` with `"state": "ready"`
(or `"failed"` with the reason), prints where the kubeconfigs are and returns. `dev down` sends SIGTERM to the pid in
that file; the supervisor stops every component (they also die with it if it is killed outright) and removes the
state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from jupyternetes.dev import cluster, components
from jupyternetes.dev.node import RealNode

STATUS_FILE: Final = "status.json"
DEV_POD_CIDR_PREFIX: Final = "127.1"


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads((state_dir / STATUS_FILE).read_text()))
    except (OSError, ValueError):
        return None


def _write_status(state_dir: Path, **fields: Any) -> None:
    tmp = state_dir / (STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **fields}))
    tmp.replace(state_dir / STATUS_FILE)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_status(state_dir: Path) -> dict[str, Any] | None:
    """The status of a live supervisor in `state_dir`, or None."""
    status = read_status(state_dir)
    if status and pid_alive(int(status.get("pid", 0))):
        return status
    return None


NODE_CHOICES: Final = ("auto", "real", "kwok")


def choose_node(requested: str) -> tuple[str, str]:
    """Which node kind to run and why: `real` where the machine allows it (or when asked), else `kwok`."""
    from jupyternetes.dev import node

    if requested == "kwok":
        return "kwok", "asked for with --node kwok"
    reason = node.why_not()
    if reason is None:
        return "real", "this machine can run a real node" if requested == "auto" else "asked for with --node real"
    if requested == "real":
        raise node.NodeError(f"--node real: this machine cannot run a real node: {reason}")
    return "kwok", f"no real node here: {reason}"


def launch(state_dir: Path, timeout: float, node_kind: str = "auto") -> dict[str, Any]:
    """Start a detached supervisor and wait until it reports ready or failed."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "logs").mkdir(exist_ok=True)
    (state_dir / STATUS_FILE).unlink(missing_ok=True)
    log = open(state_dir / "logs" / "supervisor.log", "ab")  # noqa: SIM115 - inherited by the child
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "jupyternetes.dev.supervisor", "--state-dir", str(state_dir),
             "--timeout", str(timeout), "--node", node_kind],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(state_dir)
        if status and status.get("state") in ("ready", "failed"):
            return status
        if child.poll() is not None:
            tail = (state_dir / "logs" / "supervisor.log").read_text(errors="replace").splitlines()[-20:]
            return {"state": "failed", "error": "the supervisor exited early:\n" + "\n".join(tail)}
        time.sleep(0.2)
    child.terminate()
    return {"state": "failed", "error": f"not ready after {timeout:.0f}s; see {state_dir / 'logs'}"}


def shut_down(state_dir: Path, timeout: float = 60.0) -> bool:
    """Stop the supervisor in `state_dir`; True if one was running."""
    status = running_status(state_dir)
    if not status:
        return False
    pid = int(status["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyternetes.dev.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--node", choices=NODE_CHOICES, default="auto")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        kind, why = choose_node(args.node)
    except RuntimeError as error:
        _write_status(state_dir, state="failed", error=str(error))
        return 1
    if kind == "real":
        # Pods run in real containers on one real node, with addresses on its bridge.
        config = cluster.ClusterConfig(nodes=0, real_node=True)
    else:
        # Pods get loopback IPs, so the kubelet stand-in can run notebook servers where the hub's proxy finds them.
        config = cluster.ClusterConfig(pod_cidr_prefix=DEV_POD_CIDR_PREFIX)
    local = cluster.LocalCluster(state_dir, config, die_with_parent=True, remove_state_on_stop=True)
    real = None
    try:
        local.start(args.timeout)
        if kind == "real":
            real = RealNode(local)
            real.start(args.timeout)
        endpoints = components.start_all(local, real)
    except Exception as error:  # noqa: BLE001 - reported to `dev up`, which prints it
        if real is not None:
            real.stop()
        local.remove_state_on_stop = False
        local.stop()
        _write_status(state_dir, state="failed", error=str(error), node=kind, node_reason=why)
        return 1
    _write_status(state_dir, state="ready", server=local.server, **endpoints, node=kind, node_reason=why,
                  kubeconfigs={identity: str(local.kubeconfig(identity)) for identity in cluster.IDENTITIES})
    dead: list[str] = []
    try:
        while not stop.wait(1.0):
            dead = [p.name for p in local.processes if not p.alive()]
            if dead:
                break
    finally:
        if dead:
            # Keep the logs for whoever investigates; `dev down` or a new `dev up` clears them.
            local.remove_state_on_stop = False
        if real is not None:
            real.stop()
        local.stop()
    if dead:
        _write_status(state_dir, state="failed", error=f"component(s) exited: {', '.join(dead)}; see "
                      f"{state_dir / 'logs'}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
