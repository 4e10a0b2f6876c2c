"""A stand-in storage provisioner for the local control plane.

kwok stands in for kubelets; this stands in for a CSI driver. It watches PersistentVolumeClaims of the `standard`
StorageClass and creates a PersistentVolume pre-bound to each, so the controller manager's real PV controller binds
them and the real scheduler will place pods that mount them. Released volumes are deleted, as a `Delete` reclaim policy
asks. Nothing is mounted anywhere: no container runs in this cluster.

Run as its own process by the harness: `python -m jupyternetes.dev.provisioner --kubeconfig FILE`.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections.abc import Callable
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


def volume_for(pvc: dict[str, Any]) -> dict[str, Any]:
    meta, spec = pvc["metadata"], pvc.get("spec", {})
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
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
            "hostPath": {"path": f"/var/lib/jupyternetes-fake-volumes/{meta['uid']}"},
        },
    }


def _on_claim(client: kube.Kube, pvc: dict[str, Any]) -> None:
    spec = pvc.get("spec", {})
    if spec.get("storageClassName") != STORAGE_CLASS or spec.get("volumeName"):
        return
    if pvc.get("metadata", {}).get("deletionTimestamp"):
        return
    with contextlib.suppress(kube.Conflict):
        client.create(volume_for(pvc))


def _on_volume(client: kube.Kube, pv: dict[str, Any]) -> None:
    annotations = pv.get("metadata", {}).get("annotations") or {}
    if annotations.get("pv.kubernetes.io/provisioned-by") != PROVISIONER:
        return
    if pv.get("status", {}).get("phase") == "Released":
        with contextlib.suppress(kube.NotFound):
            client.delete(PV, pv["metadata"]["name"])


def _follow(client: kube.Kube, rt: kube.ResourceType, handle: Callable[[kube.Kube, dict[str, Any]], None],
            stop: threading.Event) -> None:
    """List, handle everything, then watch from there; start over when the watch expires or breaks."""
    while not stop.is_set():
        try:
            listing = client.list(rt)
            for item in listing.get("items", []):
                handle(client, item)
            version = listing["metadata"]["resourceVersion"]
            for event in client.watch(rt, resourceVersion=version, timeout=300):
                if stop.is_set():
                    return
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(client, event["object"])
                elif event["type"] == "ERROR":
                    break
        except Exception:  # noqa: BLE001 - a stand-in keeps going; the API server may be restarting
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyternetes.dev.provisioner")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args(argv)
    config = kube.KubeConfig.from_file(args.kubeconfig)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_follow, args=(kube.Kube(config), rt, handle, stop), daemon=True)
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
