"""Start the Jupyternetes components on a local control plane, each as its own process, configured the way the chart
configures them in a cluster: OPA with the policies, the admission webhook (registered with the API server, serving
TLS from its self-managed CA) and the operator. Used by `jupyternetes dev up` and by the integration tests.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jupyternetes import admission, kube
from jupyternetes.dev import cluster, rbac, toolchain

REPO_POLICIES: Final = Path(__file__).resolve().parents[3] / "policies"
PACKAGED_POLICIES: Final = Path(__file__).resolve().parents[1] / "_data" / "policies"

VWC: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
MWC: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]


def policy_dir() -> Path:
    """The policies shipped with Jupyternetes (the repository's `policies/`, or the copy inside a wheel)."""
    return PACKAGED_POLICIES if PACKAGED_POLICIES.is_dir() else REPO_POLICIES


def operator_user(local: cluster.LocalCluster) -> str:
    return f"system:serviceaccount:{local.config.system_namespace}:{rbac.OPERATOR_ACCOUNT}"


def hub_user(local: cluster.LocalCluster) -> str:
    return f"system:serviceaccount:{local.config.hub_namespace}:{rbac.HUB_ACCOUNT}"


def _env(prefix: str, **settings: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"{prefix}{key.upper()}": str(value) for key, value in settings.items()})
    return env


def _get(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 - local endpoints
        return bool(response.status == 200)


def start_opa(local: cluster.LocalCluster, policies: Path | None = None, name: str = "opa") -> tuple[
        cluster.Process, str]:
    """An OPA server with the policy directory loaded; returns the process and its URL."""
    opa = toolchain.ensure(["opa"])["opa"]
    port = cluster.free_port()
    process = local.spawn(name, [str(opa), "run", "--server", f"--addr=127.0.0.1:{port}", "--log-level=error",
                                 "--skip-version-check", "--ignore=samples", "--ignore=*_test.rego",
                                 str(policies or policy_dir())])
    url = f"http://127.0.0.1:{port}"
    cluster.wait_for("OPA to serve", lambda: _get(f"{url}/health?bundles"), timeout=60, process=process)
    return process, url


@dataclass
class Webhook:
    process: cluster.Process
    url: str
    port: int
    env: dict[str, str]


def register_webhook(admin: kube.Kube, local: cluster.LocalCluster, url: str) -> None:
    """Create the webhook configurations (caBundle empty: the webhook fills it in) and the certificate Secret."""
    cfg = local.config
    with contextlib.suppress(kube.Conflict):
        admin.create({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                      "metadata": {"name": rbac.WEBHOOK_TLS_SECRET, "namespace": cfg.system_namespace}})
    for obj in admission.configurations(name=rbac.WEBHOOK_CONFIGURATION, namespace=cfg.system_namespace,
                                        operator_user=operator_user(local), url=url):
        rt = VWC if obj["kind"] == VWC.kind else MWC
        with contextlib.suppress(kube.NotFound):
            admin.delete(rt, obj["metadata"]["name"])
        admin.create(obj)


def unregister_webhook(admin: kube.Kube) -> None:
    for rt in (VWC, MWC):
        with contextlib.suppress(kube.NotFound):
            admin.delete(rt, rbac.WEBHOOK_CONFIGURATION)


def start_webhook(local: cluster.LocalCluster, opa_url: str, policies: Path | None = None, name: str = "webhook",
                  port: int | None = None, register: bool = True, **settings: Any) -> Webhook:
    """The admission webhook as the API server will call it, registered and with its caBundle in place (or, with
    `register=False`, only serving, for requests sent to it directly)."""
    cfg = local.config
    port = port or cluster.free_port()
    url = f"https://127.0.0.1:{port}"
    if register:
        with local.kube() as admin:
            register_webhook(admin, local, url)
    else:
        settings.setdefault("manage_configurations", False)
    env = _env("JUPYTERNETES_WEBHOOK_", host="127.0.0.1", port=port, namespace=cfg.system_namespace,
               service_url=url, opa_url=opa_url, policy_dir=policies or policy_dir(),
               instance_creators=f'["{hub_user(local)}"]', operator_user=operator_user(local),
               template_namespace=cfg.template_namespace, **settings)
    process = local.spawn(name, [sys.executable, "-m", "jupyternetes", "webhook", "--kubeconfig",
                                 str(local.kubeconfig(cluster.WEBHOOK))], env=env)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    cluster.wait_for("the webhook to be ready", lambda: _get(f"{url}/readyz", insecure), timeout=60,
                     process=process)
    if not register:
        return Webhook(process, url, port, env)
    with local.kube() as admin:
        cluster.wait_for("the webhook's CA in its configurations", lambda: all(
            w.get("clientConfig", {}).get("caBundle") for rt in (VWC, MWC)
            for w in admin.get(rt, rbac.WEBHOOK_CONFIGURATION)["webhooks"]), timeout=30, process=process)
    return Webhook(process, url, port, env)


def start_operator(local: cluster.LocalCluster, name: str = "operator", **settings: Any) -> cluster.Process:
    cfg = local.config
    health_port = cluster.free_port()
    defaults: dict[str, Any] = {"template_namespace": cfg.template_namespace,
                                "lease_namespace": cfg.system_namespace, "identity": f"dev-{name}",
                                "metrics_port": cluster.free_port(), "health_port": health_port}
    env = _env("JUPYTERNETES_OPERATOR_", **{**defaults, **settings})
    process = local.spawn(name, [sys.executable, "-m", "jupyternetes", "operator", "--kubeconfig",
                                 str(local.kubeconfig(cluster.OPERATOR))], env=env)
    cluster.wait_for("the operator to report healthy", lambda: _get(f"http://127.0.0.1:{health_port}/healthz"),
                     timeout=120, interval=0.2, process=process)
    return process


def start_all(local: cluster.LocalCluster) -> dict[str, Any]:
    """OPA, the webhook and the operator: what `jupyternetes dev up` runs."""
    _, opa_url = start_opa(local)
    webhook = start_webhook(local, opa_url)
    start_operator(local)
    return {"opa": opa_url, "webhook": webhook.url}
