"""A stand-in storage provisioner for the local control plane.

kwok stands in for kubelets; this stands in for a CSI driver. It watches PersistentVolumeClaims of the `standard`
StorageClass and creates a PersistentVolume pre-bound to each, so the controller manager's real PV controller binds
them and the real scheduler will place pods that mount them. Released volumes are deleted, as a `Delete` reclaim policy
asks. On kwok's nodes nothing is mounted anywhere.

With a real node (`--local-node NAME --volume-dir DIR`), each claim gets a directory of its own under DIR and a `local`
PersistentVolume pinned to that node, so the kubelet mounts it into the pod and applies the pod's fsGroup to it, as
it does for any local volume. The directory is removed when its volume is released.

Run as its own process by the harness: `python -m jupyternetes.dev.provisioner --kubeconfig FILE`.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jupyternetes import kube

PROVISIONER: Final = "dev.jupyternetes.io/fake-provisioner"
STORAGE_CLASS: Final = "standard"
PV: Final = kube.KNOWN_TYPES[("v1", "PersistentVolume")]


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS,
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": True,
    }


def volume_for(pvc: dict[str, Any], local_node: str | None = None, volume_dir: Path | None = None) -> dict[str, Any]:
    meta, spec = pvc["metadata"], pvc.get("spec", {})
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    if local_node and volume_dir:
        source: dict[str, Any] = {
            "local": {"path": str(volume_dir / meta["uid"])},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [local_node]}]}]}},
        }
    else:
        source = {"hostPath": {"path": f"/var/lib/jupyternetes-fake-volumes/{meta['uid']}"}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pvc-{meta['uid']}", "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": STORAGE_CLASS,
            "volumeMode": spec.get("volumeMode") or "Filesystem",
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]},
            **source,
        },
    }


@dataclass(frozen=True)
class Settings:
    local_node: str | None = None
    volume_dir: Path | None = None


def _on_claim(client: kube.Kube, pvc: dict[str, Any], settings: Settings) -> None:
    spec = pvc.get("spec", {})
    if spec.get("storageClassName") != STORAGE_CLASS or spec.get("volumeName"):
        return
    if pvc.get("metadata", {}).get("deletionTimestamp"):
        return
    volume = volume_for(pvc, settings.local_node, settings.volume_dir)
    local = volume["spec"].get("local")
    if local:
        # Owned by root and closed to others until the kubelet applies the pod's fsGroup.
        Path(local["path"]).mkdir(mode=0o750, parents=True, exist_ok=True)
    with contextlib.suppress(kube.Conflict):
        client.create(volume)


def _on_volume(client: kube.Kube, pv: dict[str, Any], settings: Settings) -> None:
    annotations = pv.get("metadata", {}).get("annotations") or {}
    if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
        return
    if pv.get("status", {}).get("phase") == "Released":
        local = (pv.get("spec") or {}).get("local")
        if local and settings.volume_dir and Path(local["path"]).parent == settings.volume_dir:
            shutil.rmtree(local["path"], ignore_errors=True)
        with contextlib.suppress(kube.NotFound):
            client.delete(PV, pv["metadata"]["name"])


def _follow(client: kube.Kube, rt: kube.ResourceType,
            handle: Callable[[kube.Kube, dict[str, Any], Settings], None], settings: Settings,
            stop: threading.Event) -> None:
    """List, handle everything, then watch from there; start over when the watch expires or breaks."""
    while not stop.is_set():
        try:
            listing = client.list(rt)
            for item in listing.get("items", []):
                handle(client, item, settings)
            version = listing["metadata"]["resourceVersion"]
            for event in client.watch(rt, resourceVersion=version, timeout=300):
                if stop.is_set():
                    return
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(client, event["object"], settings)
                elif event["type"] == "ERROR":
                    break
        except Exception:  # noqa: BLE001 - a stand-in keeps going; the API server may be restarting
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyternetes.dev.provisioner")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--local-node", help="make local volumes on this (real) node")
    parser.add_argument("--volume-dir", type=Path, help="where the local volumes' directories go")
    args = parser.parse_args(argv)
    settings = Settings(args.local_node, args.volume_dir)
    config = kube.KubeConfig.from_file(args.kubeconfig)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_follow, args=(kube.Kube(config), rt, handle, settings, stop), daemon=True)
        for rt, handle in ((kube.PVC, _on_claim), (PV, _on_volume))
    ]
    for thread in threads:
        thread.start()
    try:
        while all(thread.is_alive() for thread in threads):
            time.sleep(1)
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
