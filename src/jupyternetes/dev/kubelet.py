"""A kubelet stand-in for the local control plane: it runs the containers of Running pods as local processes.

kwok marks pods Running and gives them IPs from each fake node's pod range, but nothing runs. With a loopback pod
range (127.x.y.0/24), the addresses are local, so this stand-in can start each pod's containers as processes that
listen on the pod's own IP, which is where JupyterHub's proxy sends the user:

- the command is the container's `command` and `args`, or, like an image's entrypoint, `jupyterhub-singleuser`;
- the environment is what the kubelet would give: `envFrom` (Secrets and ConfigMaps), `env` values with `$(VAR)`
  expansion, `valueFrom` Secret and ConfigMap keys and the downward API (`status.podIP`, names, namespace), over the
  image's own (HOME, PATH, and a Jupyter configuration that lets the server start as this process's user);
- processes stop when the pod is deleted or stops running;
- like the kubelet, a pod on a kwok node with `activeDeadlineSeconds` (whether or not it runs processes here) is
  failed that long after it started: phase Failed, reason DeadlineExceeded (how session limits end a server).

It is no sandbox: nothing is isolated, no image is pulled, volumes are not mounted and the securityContext is not
enforced. `--mode respond` runs no process at all: it answers HTTP on each pod's ports, for benchmarks where only the
spawning path matters.

Run as its own process by the harness: `python -m jupyternetes.dev.kubelet --kubeconfig FILE --state-dir DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import ipaddress
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from jupyternetes import kube
from jupyternetes.dev.cluster import REAL_NODE_NAME, die_with_parent

logger = logging.getLogger("jupyternetes.dev.kubelet")

CONFIG_MAP: Final = kube.KNOWN_TYPES[("v1", "ConfigMap")]
_VAR_REF: Final = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
IMAGE_ENTRYPOINT: Final = "jupyterhub-singleuser"


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` is a literal `$`, the rest stays."""
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)
    return _VAR_REF.sub(replace, value)


def _field(pod: Mapping[str, Any], path: str) -> str:
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
              "metadata.uid": meta.get("uid"), "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
              "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
              "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP")}
    return str(fields.get(path) or "")


class Resolver:
    """Reads what the kubelet reads: the pod's Secrets and ConfigMaps."""

    def __init__(self, api: kube.AsyncKube) -> None:
        self.api = api

    async def _data(self, rt: kube.ResourceType, namespace: str, name: str) -> dict[str, str]:
        obj = await self.api.get(rt, name, namespace)
        if rt is kube.SECRET:
            return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return dict(obj.get("data") or {})

    async def environment(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                          image_env: Mapping[str, str]) -> dict[str, str]:
        namespace = pod["metadata"]["namespace"]
        env = dict(image_env)
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                data = await self._data(kube.SECRET, namespace, source["secretRef"]["name"])
            elif "configMapRef" in source:
                data = await self._data(CONFIG_MAP, namespace, source["configMapRef"]["name"])
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        for entry in container.get("env") or []:
            name = entry["name"]
            if "valueFrom" in entry:
                source = entry["valueFrom"]
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    env[name] = (await self._data(kube.SECRET, namespace, ref["name"]))[ref["key"]]
                elif "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    env[name] = (await self._data(CONFIG_MAP, namespace, ref["name"]))[ref["key"]]
                elif "fieldRef" in source:
                    env[name] = _field(pod, source["fieldRef"]["fieldPath"])
                else:
                    env[name] = ""
            else:
                env[name] = expand(entry.get("value") or "", env)
        return env


class Kubelet:
    def __init__(self, api: kube.AsyncKube, state_dir: Path, mode: str) -> None:
        self.api = api
        self.state_dir = state_dir
        self.mode = mode
        self.resolver = Resolver(api)
        self.running: dict[str, list[Any]] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        self.deadlines: dict[str, asyncio.Task[None]] = {}
        self.bin_dir = Path(sys.executable).parent

    def image_env(self, pod_dir: Path) -> dict[str, str]:
        """The environment an image would bring: a home directory and a Jupyter configuration."""
        config = pod_dir / ".image-jupyter-config"
        config.mkdir(parents=True, exist_ok=True)
        # Like the Jupyter images' own configuration: a server may start as the image's user (here, ours).
        (config / "jupyter_server_config.py").write_text("c.ServerApp.allow_root = True\n")
        return {"HOME": str(pod_dir), "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_DIR": str(config), "LANG": "C.UTF-8"}

    def on_change(self, kind: str, pod: dict[str, Any]) -> None:
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        wanted = kind != "DELETED" and self._should_run(pod)
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        timed = kind != "DELETED" and self._on_fake_node(pod) and isinstance(deadline, int)
        if timed and key not in self.deadlines:
            self.deadlines[key] = asyncio.create_task(self._deadline(pod, deadline))
        elif not timed and key in self.deadlines:
            self.deadlines.pop(key).cancel()
        if wanted and key not in self.running and key not in self.pending:
            self.pending[key] = asyncio.create_task(self._start(key, pod))
        elif not wanted and (key in self.running or key in self.pending):
            asyncio.create_task(self._stop(key))

    async def _deadline(self, pod: Mapping[str, Any], seconds: int) -> None:
        """Fail the pod `seconds` after it started, as the kubelet does for `activeDeadlineSeconds`."""
        meta, status = pod["metadata"], pod.get("status") or {}
        started = status.get("startTime")
        elapsed = 0.0
        if started:
            begun = datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
            elapsed = (datetime.datetime.now(datetime.UTC) - begun).total_seconds()
        await asyncio.sleep(max(0.0, seconds - elapsed))
        logger.info("%s/%s passed its activeDeadlineSeconds (%d): failing it", meta["namespace"], meta["name"],
                    seconds)
        with contextlib.suppress(kube.NotFound):
            await self.api.patch(kube.POD, meta["name"], {"status": {
                "phase": "Failed", "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline"}},
                meta["namespace"], subresource="status")

    @staticmethod
    def _on_fake_node(pod: Mapping[str, Any]) -> bool:
        """A running pod on one of kwok's nodes (every pod but the real node's, whose kubelet is real)."""
        status = pod.get("status") or {}
        return (status.get("phase") == "Running" and not (pod.get("metadata") or {}).get("deletionTimestamp")
                and bool((pod.get("spec") or {}).get("nodeName"))
                and (pod.get("spec") or {}).get("nodeName") != REAL_NODE_NAME)

    @staticmethod
    def _should_run(pod: Mapping[str, Any]) -> bool:
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if status.get("phase") != "Running" or not ip or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return False
        return ipaddress.ip_address(ip).is_loopback

    async def _start(self, key: str, pod: dict[str, Any]) -> None:
        """Start the pod's containers; like a kubelet, a pod that cannot start yet (a Secret it reads is missing) is
        tried again with a growing delay, up to 10 s, until it starts or is stopped."""
        pod_dir = self.state_dir / "pods" / key.replace("/", "_")
        pod_dir.mkdir(parents=True, exist_ok=True)
        delay = 0.5
        try:
            while True:
                handles: list[Any] = []
                try:
                    for container in pod["spec"]["containers"]:
                        if self.mode == "respond":
                            handles += await self._respond(pod, container)
                        else:
                            handles.append(await self._run(pod, container, pod_dir))
                    self.running[key] = handles
                    logger.info("started %s (%s)", key, self.mode)
                    return
                except asyncio.CancelledError:
                    for handle in handles:
                        await self._close(handle)
                    raise
                except Exception as error:  # noqa: BLE001 - logged, as a kubelet reports CreateContainerConfigError
                    logger.warning("could not start %s, trying again in %.1fs: %s", key, delay, error)
                    for handle in handles:
                        await self._close(handle)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        finally:
            self.pending.pop(key, None)

    async def _run(self, pod: dict[str, Any], container: Mapping[str, Any], pod_dir: Path) -> Any:
        env = await self.resolver.environment(pod, container, self.image_env(pod_dir))
        argv = [expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        if not container.get("command"):
            argv = [IMAGE_ENTRYPOINT, *argv]
        if not os.path.isabs(argv[0]):
            argv[0] = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
        log = open(pod_dir / f"{container['name']}.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            return await asyncio.create_subprocess_exec(*argv, env=env, cwd=pod_dir, stdout=log,
                                                        stderr=asyncio.subprocess.STDOUT,
                                                        stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
                                                        preexec_fn=die_with_parent)
        finally:
            log.close()

    async def _respond(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> list[Any]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while await reader.readuntil(b"\r\n\r\n"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                    await writer.drain()
            writer.close()

        ip = pod["status"]["podIP"]
        return [await asyncio.start_server(answer, ip, port["containerPort"])
                for port in container.get("ports") or [] if port.get("protocol", "TCP") == "TCP"]

    @staticmethod
    async def _close(handle: Any) -> None:
        if isinstance(handle, asyncio.subprocess.Process):
            if handle.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(handle.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(handle.wait(), 10)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(handle.pid, signal.SIGKILL)
        else:
            handle.close()

    async def _stop(self, key: str) -> None:
        task = self.pending.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for handle in self.running.pop(key, []):
            await self._close(handle)
        logger.info("stopped %s", key)

    async def stop_all(self) -> None:
        for task in self.deadlines.values():
            task.cancel()
        for key in list(self.running) + list(self.pending):
            await self._stop(key)


async def run(kubeconfig: Path, state_dir: Path, mode: str, namespace: str | None = None) -> None:
    api = kube.AsyncKube(kube.KubeConfig.from_file(kubeconfig))
    kubelet = Kubelet(api, state_dir, mode)
    reflector = kube.Reflector(api, kube.POD, namespace, on_change=kubelet.on_change)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watching = asyncio.create_task(reflector.run())
    await stop.wait()
    watching.cancel()
    await kubelet.stop_all()
    await api.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyternetes.dev.kubelet")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--mode", choices=("singleuser", "respond"), default="singleuser")
    parser.add_argument("--namespace", help="only this namespace's pods (all namespaces when not given); a benchmark "
                        "runs one stand-in per namespace when one process would need more open files than it may have")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(run(args.kubeconfig, args.state_dir, args.mode, args.namespace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
