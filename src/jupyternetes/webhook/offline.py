"""`jupyternetes policy test`: judge templates, instances, pods and PVCs from files, offline, with the webhook's own
checks and the same Rego (evaluated by the `opa` binary instead of a server).

What cannot be judged offline is left out and said so: who creates an object (there is no request), and whether a pod
equals its rendering (a file is not the operator). Instances are rendered with the templates given beside them.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyternetes import constants, kube
from jupyternetes.webhook import defaults, policy
from jupyternetes.webhook.judge import Judge, Verdict
from jupyternetes.webhook.review import Request
from jupyternetes.webhook.settings import WebhookSettings

OFFLINE_USER = "jupyternetes-policy-test"


class FileLookup:
    """Templates and instances from the files being checked."""

    def __init__(self, documents: Sequence[dict[str, Any]]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for doc in documents:
            meta = doc.get("metadata") or {}
            self.objects[(str(doc.get("kind")), meta.get("namespace") or "default", meta.get("name", ""))] = doc

    async def instance(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((constants.INSTANCE_KIND, namespace, name))

    async def template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((constants.TEMPLATE_KIND, namespace, name))

    async def instances_using(self, namespace: str, name: str) -> list[str]:
        return []  # nothing is deleted offline


def _request(doc: dict[str, Any], resource: str) -> Request:
    meta = doc.get("metadata") or {}
    api_version = str(doc.get("apiVersion", "v1"))
    group, _, version = api_version.rpartition("/")
    return Request.model_validate({
        "uid": str(uuid.uuid4()),
        "kind": {"group": group, "version": version, "kind": doc.get("kind", "")},
        "resource": {"group": group, "version": version, "resource": resource},
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace") or "default",
        "operation": "CREATE",
        "userInfo": {"username": OFFLINE_USER},
        "object": doc,
    })


async def check(paths: Sequence[Path], policy_dir: Path, opa: Path,
                template_namespace: str = "") -> list[tuple[str, Verdict]]:
    documents: list[dict[str, Any]] = []
    for path in paths:
        for doc in kube.load_manifests(path.read_text(), str(path)):
            doc.setdefault("metadata", {}).setdefault("namespace", "default")
            documents.append(doc)
    data = policy.load_data(policy_dir)
    shared = template_namespace or next(
        (d["metadata"]["namespace"] for d in documents if d.get("kind") == constants.TEMPLATE_KIND), "")
    settings = WebhookSettings(development=True, policy_dir=policy_dir, instance_creators=[OFFLINE_USER],
                               template_namespace=shared, manage_configurations=False)
    judge = Judge(settings, data, policy.OpaEval(opa, policy_dir), FileLookup([]))
    # Instances are judged against their templates as the webhook would have stored them (with the defaults filled
    # in), and each template reports the defaults it would get, as the API server shows them when it is applied.
    filled: dict[int, list[str]] = {}
    stored: list[dict[str, Any]] = []
    for index, doc in enumerate(documents):
        if doc.get("kind") == constants.TEMPLATE_KIND:
            doc, filled[index] = _as_stored(judge, doc)
        stored.append(doc)
    judge.lookup = FileLookup(stored)
    results: list[tuple[str, Verdict]] = []
    for index, doc in enumerate(documents):
        kind = doc.get("kind")
        if kind == constants.TEMPLATE_KIND:
            verdict = await judge.template(_request(doc, constants.TEMPLATE_PLURAL))
            verdict.warnings[:0] = filled.get(index, [])
        elif kind == constants.INSTANCE_KIND:
            verdict = await judge.instance(_request(doc, constants.INSTANCE_PLURAL))
        elif kind in ("Pod", "PersistentVolumeClaim"):
            meta = doc.get("metadata") or {}
            verdict = Verdict(f"{kind} {meta.get('namespace')}/{meta.get('name')}")
            await judge.workload_policies(verdict, doc, str(kind), namespace=meta.get("namespace") or "default")
        else:
            raise ValueError(f"{kind} {doc.get('metadata', {}).get('name')}: only JupyterNotebookTemplates, "
                             "JupyterNotebookInstances, Pods and PersistentVolumeClaims can be checked")
        results.append((verdict.subject, verdict))
    return results


def _as_stored(judge: Judge, doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The template as the mutating webhook would store it, and the defaults it fills in (as its warnings say them)."""
    meta = doc.get("metadata") or {}
    pod_defaults = judge.template_defaults(str(meta.get("namespace") or "default"), str(meta.get("name") or ""))
    stored = copy.deepcopy(doc)
    changes: list[str] = []
    for index, pod in enumerate(((stored.get("spec") or {}).get("pods") or [])):
        if isinstance(pod, dict) and isinstance(pod.get("spec"), dict):
            pod["spec"], made = defaults.apply(pod["spec"], pod_defaults, f"spec.pods[{index}].spec")
            changes += [f"Jupyternetes default: {change}" for change in made]
    return stored, changes
