"""Start the Jupyternetes components on a local control plane, each as its own process, configured the way the chart
configures them in a cluster: OPA with the policies, the admission webhook (registered with the API server, serving
TLS from its self-managed CA) and the operator. Used by `jupyternetes dev up` and by the integration tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import ssl
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from jupyternetes import admission, kube, network, pki, sealing
from jupyternetes.dev import cluster, images, rbac, toolchain
from jupyternetes.dev.node import POD_GATEWAY, RealNode

#: The spawner's page templates (the "server not running" page that says why a server stopped). A path, not an
#: import: the dev harness does not import the spawner.
TEMPLATES: Final = str(Path(__file__).resolve().parents[1] / "spawner" / "templates")

REPO_POLICIES: Final = Path(__file__).resolve().parents[3] / "policies"
PACKAGED_POLICIES: Final = Path(__file__).resolve().parents[1] / "_data" / "policies"

VWC: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
MWC: Final = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]


def policy_dir() -> Path:
    """The policies shipped with Jupyternetes (the repository's `policies/`, or the copy inside a wheel)."""
    return PACKAGED_POLICIES if PACKAGED_POLICIES.is_dir() else REPO_POLICIES


def policies_allowing(local: cluster.LocalCluster, repositories: list[str], require_digest: bool = False) -> Path:
    """A copy of the shipped policies whose data also allows `repositories` (globs), in the cluster's state
    directory: the real node's locally built images come from `localhost/jupyternetes/`, which no shipped policy
    allows."""
    target = local.state_dir / "policies"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(policy_dir(), target)
    data_file = target / "data.yaml"
    data = yaml.safe_load(data_file.read_text())
    allowed = data["jupyternetes"]["config"]["images"]["allowed"]
    allowed += [repository for repository in repositories if repository not in allowed]
    if require_digest:
        data["jupyternetes"]["config"]["images"]["require_digest"] = True
    data_file.write_text("# Written by jupyternetes.dev.components: the shipped policy data, plus the real node's "
                         "local images.\n" + yaml.safe_dump(data, sort_keys=False))
    return target


def operator_user(local: cluster.LocalCluster) -> str:
    return rbac.user_name(local.config.system_namespace, rbac.OPERATOR_ACCOUNT)


def hub_user(local: cluster.LocalCluster) -> str:
    return rbac.user_name(local.config.hub_namespace, rbac.HUB_ACCOUNT)


def _env(prefix: str, **settings: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update({f"{prefix}{key.upper()}": str(value) for key, value in settings.items()})
    return env


def _get(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 - local endpoints
        return bool(response.status == 200)


def start_opa(local: cluster.LocalCluster, policies: Path | None = None, name: str = "opa",
              port: int | None = None) -> tuple[cluster.Process, str]:
    """An OPA server with the policy directory loaded (on `port`, or a free one); returns the process and its URL."""
    opa = toolchain.ensure(["opa"])["opa"]
    port = port or cluster.free_port()
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


def publish_entitlements(admin: kube.Kube, local: cluster.LocalCluster, policies: Path) -> None:
    """The entitlements of the policy data the webhook enforces, where the hub's spawner reads them (as the chart's
    templates/hub/entitlements.yaml does)."""
    data = yaml.safe_load((policies / "data.yaml").read_text()) or {}
    rules = (((data.get("jupyternetes") or {}).get("config") or {}).get("entitlements") or {}).get("rules") or []
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": rbac.ENTITLEMENTS_CONFIGMAP, "namespace": local.config.hub_namespace},
            "data": {"rules.json": json.dumps(rules)}}
    admin.apply(body)


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
        publish_entitlements(admin, local, policies or policy_dir())
        cluster.wait_for("the webhook's CA in its configurations", lambda: all(
            w.get("clientConfig", {}).get("caBundle") for rt in (VWC, MWC)
            for w in admin.get(rt, rbac.WEBHOOK_CONFIGURATION)["webhooks"]), timeout=30, process=process)
    return Webhook(process, url, port, env)


def sealing_keys(local: cluster.LocalCluster) -> tuple[Path, Path]:
    """The operator's sealing key pair (made once per control plane): (private key file, public key file)."""
    private, public = local.state_dir / "sealing.key", local.state_dir / "sealing.pub"
    if not private.exists():
        key = sealing.new_private_key()
        pki.write_private(private, sealing.private_key_pem(key))
        public.write_bytes(sealing.public_key_pem(key))
    return private, public


def start_operator(local: cluster.LocalCluster, name: str = "operator", **settings: Any) -> cluster.Process:
    cfg = local.config
    health_port = cluster.free_port()
    defaults: dict[str, Any] = {"template_namespace": cfg.template_namespace,
                                "lease_namespace": cfg.system_namespace, "identity": f"dev-{name}",
                                "metrics_port": cluster.free_port(), "health_port": health_port,
                                "sealing_key_file": sealing_keys(local)[0],
                                "public_key_configmap": f"{cfg.hub_namespace}/{rbac.SEALING_CONFIGMAP}"}
    env = _env("JUPYTERNETES_OPERATOR_", **{**defaults, **settings})
    process = local.spawn(name, [sys.executable, "-m", "jupyternetes", "operator", "--kubeconfig",
                                 str(local.kubeconfig(cluster.OPERATOR))], env=env)
    cluster.wait_for("the operator to report healthy", lambda: _get(f"http://127.0.0.1:{health_port}/healthz"),
                     timeout=120, interval=0.2, process=process)
    return process


def start_kubelet(local: cluster.LocalCluster, mode: str = "singleuser",
                  namespace: str | None = None) -> cluster.Process:
    """The kubelet stand-in that runs Running pods with loopback IPs as local processes (only `namespace`'s, if
    given)."""
    name, only = (f"kubelet-{mode}-{namespace}", [f"--namespace={namespace}"]) if namespace else (f"kubelet-{mode}", [])
    return local.spawn(name, [sys.executable, "-m", "jupyternetes.dev.kubelet",
                              f"--kubeconfig={local.kubeconfig(cluster.ADMIN)}",
                              f"--state-dir={local.state_dir}", f"--mode={mode}", *only])


@dataclass
class Hub:
    process: cluster.Process
    url: str
    api_url: str
    token: str
    config_file: Path


HUB_CONFIG: Final = """\
# Written by jupyternetes.dev.components for the local control plane.
c.JupyterHub.spawner_class = "jupyternetes"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"admin"}}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = False
c.JupyterHub.bind_url = {bind_url!r}
c.JupyterHub.hub_bind_url = {hub_bind_url!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = {proxy_api!r}
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.ConfigurableHTTPProxy.pid_file = {proxy_pid_file!r}
c.JupyterHub.template_paths = [{templates!r}]
c.JupyterHub.services = [
    {{"name": "dev-admin", "api_token": {token!r}}},
    # jupyterhub-idle-culler, as Zero to JupyterHub runs it: stop servers idle for `timeout` seconds, looking every
    # `every` seconds (z2jh's cull.timeout and cull.every).
    {{"name": "idle-culler", "command": [{python!r}, "-m", "jupyternetes.dev.culler", "--timeout={cull_timeout}",
                                         "--cull-every={cull_every}", "--concurrency=10"]}},
]
c.JupyterHub.load_roles = [
    {{"name": "dev-admin", "scopes": ["admin:users", "admin:servers", "read:users", "list:users", "access:servers",
                                      "tokens"], "services": ["dev-admin"]}},
    {{"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
      "services": ["idle-culler"]}},
]
c.Spawner.ip = "0.0.0.0"
c.Spawner.port = 8888
c.Spawner.start_timeout = {start_timeout}
c.Spawner.http_timeout = 60
c.JupyternetesSpawner.kubeconfig = {kubeconfig!r}
c.JupyternetesSpawner.namespace = {namespace!r}
c.JupyternetesSpawner.template = {template!r}
c.JupyternetesSpawner.template_namespace = {template_namespace!r}
c.JupyternetesSpawner.operator_public_key = {public_key!r}
c.JupyternetesSpawner.server_networks = [{pod_network!r}]
{extra}
"""

def hub_password(local: cluster.LocalCluster) -> str:
    """The local hub's shared password (DummyAuthenticator), random for each control plane and kept in its state
    directory (mode 0600): a published password would let any notebook, which can reach the hub's API on a real
    node, log in as any user, admin included."""
    path = local.state_dir / "hub-password"
    if not path.exists():
        pki.write_private(path, secrets.token_urlsafe(12).encode())
    return path.read_text()


HUB_TEMPLATE: Final = "jupyter-notebook"
HUB_TEMPLATE_FILE: Final = Path(__file__).resolve().parents[3] / "examples" / "10-hub-notebook" / "template.yaml"


def install_hub_template(local: cluster.LocalCluster, image: str | None = None) -> None:
    """The notebook template the local hub uses, applied by the security officer (through the webhook); on a real
    node with the notebook image built here (`image`)."""
    template = kube.load_manifests(HUB_TEMPLATE_FILE.read_text(), str(HUB_TEMPLATE_FILE))[0]
    template["metadata"]["namespace"] = local.config.template_namespace
    if image:
        for container in template["spec"]["pods"][0]["spec"]["containers"]:
            container["image"] = image
    with local.kube(cluster.OFFICER) as officer:
        try:
            officer.create(template)
        except kube.Conflict:
            officer.apply(template, field_manager="jupyternetes-dev")


#: jupyterhub-idle-culler's settings for the local hub: Zero to JupyterHub's defaults (cull.timeout, cull.every).
CULL_TIMEOUT_SECONDS: Final = 3600
CULL_EVERY_SECONDS: Final = 600


def write_hub_config(local: cluster.LocalCluster, name: str, port: int, extra: str = "",
                     start_timeout: int = 120, hub_ip: str = "127.0.0.1", cull_timeout: int = CULL_TIMEOUT_SECONDS,
                     cull_every: int = CULL_EVERY_SECONDS) -> tuple[Path, str]:
    """A jupyterhub_config.py for the local hub, with the idle culler (see `CULL_TIMEOUT_SECONDS`); returns its path
    and the admin API token."""
    directory = local.state_dir / name
    directory.mkdir(parents=True, exist_ok=True)
    token_file = directory / "admin-token"
    if not token_file.exists():
        pki.write_private(token_file, secrets.token_hex(32).encode())
    token = token_file.read_text()
    # The hub's API and the proxy's API keep their addresses across restarts, as a Service's would: running
    # servers call the hub at the address they were started with.
    addresses = directory / "addresses.json"
    if not addresses.exists():
        addresses.write_text(json.dumps({"hub": cluster.free_port(), "proxy_api": cluster.free_port(),
                                         "proxy_token": secrets.token_hex(16)}))
    fixed = json.loads(addresses.read_text())
    config = directory / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG.format(
        password=hub_password(local), bind_url=f"http://127.0.0.1:{port}", hub_bind_url=f"http://{hub_ip}:{fixed['hub']}",
        proxy=str(toolchain.ensure_npm("configurable-http-proxy")),
        proxy_api=f"http://127.0.0.1:{fixed['proxy_api']}",
        proxy_token=fixed["proxy_token"], db_url=f"sqlite:///{directory / 'jupyterhub.sqlite'}",
        cookie_secret=str(directory / "cookie_secret"), pid_file=str(directory / "hub.pid"),
        proxy_pid_file=str(directory / "proxy.pid"), token=token,
        kubeconfig=str(local.kubeconfig(cluster.HUB)), namespace=local.config.hub_namespace,
        template=HUB_TEMPLATE, template_namespace=local.config.template_namespace,
        public_key=str(sealing_keys(local)[1]), start_timeout=start_timeout, extra=extra,
        templates=TEMPLATES, python=sys.executable, cull_timeout=cull_timeout, cull_every=cull_every,
        pod_network=f"{local.config.pod_cidr_prefix}.0.0/16"))
    return config, token


def start_hub(local: cluster.LocalCluster, name: str = "jupyterhub", port: int | None = None,
              extra: str = "", start_timeout: int = 120, env: dict[str, str] | None = None,
              hub_ip: str = "127.0.0.1", cull_timeout: int = CULL_TIMEOUT_SECONDS,
              cull_every: int = CULL_EVERY_SECONDS) -> Hub:
    """JupyterHub with the Jupyternetes spawner and configurable-http-proxy, as the hub's own identity. Its API
    listens on `hub_ip`: loopback for the kubelet stand-in, the node's address for servers in real containers."""
    port = port or cluster.free_port()
    config, token = write_hub_config(local, name, port, extra, start_timeout, hub_ip, cull_timeout, cull_every)
    process = local.spawn(name, [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                          env={**os.environ, **env} if env else None)
    url = f"http://127.0.0.1:{port}"
    cluster.wait_for("JupyterHub to answer", lambda: _get(f"{url}/hub/api/"), timeout=120, interval=0.3,
                     process=process)
    return Hub(process, url, f"{url}/hub/api", token, config)


def hub_api_port(local: cluster.LocalCluster, name: str = "jupyterhub") -> int:
    """The port of the local hub's API (fixed for the hub's life, as a Service's would be)."""
    return int(json.loads((local.state_dir / name / "addresses.json").read_text())["hub"])


def isolate_notebooks(local: cluster.LocalCluster, node_ip: str, hub_port: int, policies: Path | None = None,
                      namespace: str | None = None) -> list[dict[str, Any]]:
    """The chart's notebook NetworkPolicies (`jupyternetes.network`), shaped for this machine: the hub and the proxy
    run on the host rather than in pods, so notebooks call the hub at the node's address and the proxy connects from
    the pod bridge's address; there is no cluster DNS. Destinations come from the policy data in `policies` (the
    shipped data by default). Returns what it applied."""
    data = yaml.safe_load(((policies or policy_dir()) / "data.yaml").read_text()) or {}
    config = (data.get("jupyternetes") or {}).get("config") or {}
    notebooks = network.NotebookNetwork(
        ingress_from=[{"ipBlock": {"cidr": f"{POD_GATEWAY}/32"}}], hub_peers=[{"ipBlock": {"cidr": f"{node_ip}/32"}}],
        hub_ports=[{"port": hub_port, "protocol": "TCP"}], dns_peers=[],
        destinations=(config.get("network") or {}).get("destinations") or {})
    made = notebooks.policies(namespace or local.config.hub_namespace, {"app.kubernetes.io/part-of": "jupyternetes"})
    with local.kube() as admin:
        for obj in made:
            admin.apply(obj)
    return made


def start_all(local: cluster.LocalCluster, real_node: RealNode | None = None) -> dict[str, Any]:
    """OPA, the webhook, the operator and JupyterHub, with the kubelet stand-in unless servers run on `real_node`:
    what `jupyternetes dev up` runs."""
    policies = policies_allowing(local, [f"{images.REGISTRY}/*"]) if real_node else None
    _, opa_url = start_opa(local, policies)
    webhook = start_webhook(local, opa_url, policies)
    start_operator(local)
    if real_node is None:
        start_kubelet(local)
    install_hub_template(local, real_node.images["notebook"].reference if real_node else None)
    hub = start_hub(local, hub_ip=real_node.node_ip if real_node else "127.0.0.1")
    if real_node is not None:
        isolate_notebooks(local, real_node.node_ip, hub_api_port(local), policies)
    (local.state_dir / "hub-url").write_text(hub.url + "\n")
    pki.write_private(local.state_dir / "hub-token", hub.token.encode() + b"\n")
    return {"opa": opa_url, "webhook": webhook.url, "hub": hub.url, "hub_user_password": hub_password(local),
            "hub_password_file": str(local.state_dir / "hub-password")}
