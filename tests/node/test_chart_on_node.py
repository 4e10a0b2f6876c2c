"""The chart installed with helm on the real node, with the images built here (by digest): the operator's and the
webhook's pods run in real containers under their restricted security contexts, read their mounted Secrets and
ConfigMaps and pass their probes; the API server calls the webhook through its Service; the default template's
post-install hook runs (no workaround); and the chart's NetworkPolicies, enforced by kube-router, let the API server
in and keep other pods out.

Then a hub set up as docs/zero-to-jupyterhub.md says (Dockerfile.hub's image, docs/z2jh-values.yaml), beside
Zero to JupyterHub's proxy and with the NetworkPolicies z2jh creates by default in force: a user logs in through the
proxy's public Service with Chromium and spawns the chart's default template."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import images
from jupyternetes.dev import node as node_mod
from jupyternetes.dev.cluster import ADMIN, OFFICER
from tests.support import browser, helm, jupyter, z2jh
from tests.support.jupyter import Kernel

REASON = node_mod.why_not()
pytestmark = [pytest.mark.cluster, pytest.mark.real_node,
              pytest.mark.skipif(REASON is not None, reason=f"no real node on this machine: {REASON}")]

RELEASE = "jnt"
FULL = "jnt-jupyternetes"
SYSTEM = "jnt-system"
HUB = "jnt-hub"
TEMPLATES = "jnt-system-templates"
Z2JH_RELEASE = "z2jh"
REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = kube.KNOWN_TYPES[("apps/v1", "Deployment")]


@dataclass
class Installed:
    cluster: cluster_mod.LocalCluster
    node: node_mod.RealNode
    install_output: str


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    config = cluster_mod.ClusterConfig(nodes=0, real_node=True, admission_policies=False)
    with cluster_mod.running(config) as local:
        real = node_mod.RealNode(local)
        real.start()
        try:
            project, opa = images.build(images.project_recipe()), images.build(images.opa_recipe())
            for image in (project, opa):
                real.import_image(image)
            notebook = real.images["notebook"]
            with local.kube(ADMIN) as admin:
                admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HUB}})
            allowed = yaml.safe_load(helm.POLICY_DATA.read_text())["jupyternetes"]["config"]["images"]["allowed"]
            done = helm.helm(
                "install", RELEASE, str(helm.CHART), "--namespace", SYSTEM, "--create-namespace",
                "--set", f"hub.namespace={HUB}",
                "--set", f"image.repository={project.repository}", "--set", f"image.digest={project.digest}",
                "--set", f"webhook.opa.image.repository={opa.repository}",
                "--set", f"webhook.opa.image.tag={opa.reference.rsplit(':', 1)[1]}",
                "--set", f"webhook.opa.image.digest={opa.digest}",
                # The default template runs the notebook image built here, which the officer allows, and wears the
                # labels that put it under z2jh's singleuser NetworkPolicy.
                "--set", f"templates.default.image={notebook.pinned}",
                "--set", f"templates.default.z2jhRelease={Z2JH_RELEASE}",
                "--set-json", "webhook.policyData=" + json.dumps(
                    {"images": {"allowed": [*allowed, notebook.repository]}}),
                "--wait", "--timeout", "180s", kubeconfig=local.kubeconfig(ADMIN), timeout=400)
            if done.returncode != 0:
                pods = local.kubectl("get", "pods", "-A", "-o", "wide").stdout
                logs = ""
                with local.kube(ADMIN) as admin:
                    for pod in admin.list(kube.POD, SYSTEM)["items"]:
                        for status in pod["status"].get("containerStatuses", []):
                            if not status["ready"]:
                                previous = local.kubectl("logs", "-n", SYSTEM, pod["metadata"]["name"], "-c",
                                                         status["name"], "--previous")
                                logs += f"\n{pod['metadata']['name']}/{status['name']}:\n{previous.stdout[-3000:]}"
                raise AssertionError(f"helm install failed:\n{done.stdout}{done.stderr}\n{pods}{logs}")
            yield Installed(local, real, done.stdout)
        finally:
            real.stop()
    assert real.leftovers == []


def _pods(local: cluster_mod.LocalCluster, component: str) -> list[dict[str, Any]]:
    with local.kube() as admin:
        return [p for p in admin.list(kube.POD, SYSTEM)["items"]
                if p["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]


@pytest.mark.parametrize("component", ["operator", "webhook"])
def test_the_components_run_in_real_containers_under_their_security_contexts_and_pass_their_probes(
    installed: Installed, component: str,
) -> None:
    pods = _pods(installed.cluster, component)
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        assert pod["spec"]["nodeName"] == installed.node.name
        assert pod["status"]["phase"] == "Running"
        for status in pod["status"]["containerStatuses"]:
            assert status["ready"] and status["started"], status
            assert status["containerID"].startswith("containerd://")
            if status["restartCount"]:
                previous = installed.cluster.kubectl("logs", "-n", SYSTEM, pod["metadata"]["name"], "-c",
                                                     status["name"], "--previous")
                raise AssertionError(f"{pod['metadata']['name']}/{status['name']} restarted: "
                                     f"{status.get('lastState')}\n{previous.stdout[-3000:]}")
        for container in pod["spec"]["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            # Each container is probed, and ready (above): its probes pass.
            assert "livenessProbe" in container or "readinessProbe" in container, container["name"]
        # From inside: not root, no capabilities, seccomp on.
        status = installed.cluster.kubectl("exec", "-n", SYSTEM, pod["metadata"]["name"], "-c", component, "--",
                                           "python", "-c", "print(open('/proc/self/status').read())")
        assert status.returncode == 0, status.stderr
        fields = dict(line.split(":\t", 1) for line in status.stdout.splitlines() if ":\t" in line)
        assert fields["Uid"].split()[0] == "65532" and fields["Seccomp"].strip() == "2"
        assert fields["CapEff"].strip() == "0000000000000000"


def test_the_api_server_calls_the_webhook_through_its_service(installed: Installed) -> None:
    """An officer's template is mutated (the secure defaults are filled in) and a bad one refused, by the webhook in
    its pods, reached by the API server through the Service and kube-proxy."""
    template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                "metadata": {"name": "through-the-service", "namespace": TEMPLATES},
                "spec": {"pods": [{"name": "nb", "spec": {"containers": [
                    {"name": "nb", "image": "quay.io/jupyter/base-notebook:2026-11-16"}]}}]}}
    with installed.cluster.kube(ADMIN) as admin:
        admin.create(template, dryRun="All")
        stored = admin.create(template)
        try:
            container = stored["spec"]["pods"][0]["spec"]["containers"][0]
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            bad = yaml.safe_load(yaml.safe_dump(template))
            bad["metadata"]["name"] = "refused"
            bad["spec"]["pods"][0]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
            with pytest.raises(kube.ApiError) as refused:
                admin.create(bad)
            assert "privileged" in str(refused.value) and "webhook" in str(refused.value)
        finally:
            admin.delete(kube.TEMPLATE, "through-the-service", TEMPLATES)


def test_the_default_template_hook_ran_through_the_webhook(installed: Installed) -> None:
    with installed.cluster.kube(OFFICER) as officer:
        template = officer.get(kube.TEMPLATE, "jupyter-notebook", TEMPLATES)
    container = template["spec"]["pods"][0]["spec"]["containers"][0]
    # Stored with the secure defaults: the webhook judged it.
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


CONNECT = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=3).close()
    print("connected")
except OSError as error:
    print(type(error).__name__)
"""


def test_the_charts_network_policies_let_the_operator_reach_only_the_api_server(installed: Installed) -> None:
    """kube-router enforces the operator's egress policy (the API server's ports only): from an operator pod the
    webhook's HTTPS port, which other pods reach, is closed; the API server, through its Service, is open."""
    webhook_ip = _pods(installed.cluster, "webhook")[0]["status"]["podIP"]
    operator = _pods(installed.cluster, "operator")[0]["metadata"]["name"]

    def from_operator(host: str, port: int) -> str:
        done = installed.cluster.kubectl("exec", "-n", SYSTEM, operator, "-c", "operator", "--", "python", "-c",
                                         CONNECT, host, str(port))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert from_operator("10.96.0.1", 443) == "connected"
    assert from_operator(webhook_ip, 8443) != "connected"
    # The webhook does listen there, for anyone its ingress policy lets in: a pod in the hub's namespace.
    probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe", "namespace": HUB},
             "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                      "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [{"name": "probe", "image": installed.node.images["jupyternetes"].pinned,
                                      "command": ["python", "-c", CONNECT, webhook_ip, "8443"],
                                      "securityContext": {"allowPrivilegeEscalation": False,
                                                          "readOnlyRootFilesystem": True,
                                                          "capabilities": {"drop": ["ALL"]}}}]}}
    with installed.cluster.kube(ADMIN) as admin:
        admin.create(probe)
        cluster_mod.wait_for("the probe to finish", lambda: admin.get(kube.POD, "probe", HUB)["status"].get(
            "phase") in ("Succeeded", "Failed"), timeout=120, interval=0.3)
    assert installed.cluster.kubectl("logs", "-n", HUB, "probe").stdout.strip() == "connected"


# A hub set up as docs/zero-to-jupyterhub.md says, with Zero to JupyterHub's NetworkPolicies ------------------------


@dataclass
class Hub:
    url: str
    token: str
    password: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/hub/api", headers={"Authorization": f"token {self.token}"},
                            timeout=60)


def _ready_pod(admin: kube.Kube, component: str) -> dict[str, Any] | None:
    for pod in admin.list(kube.POD, HUB, labelSelector=f"component={component},release={Z2JH_RELEASE}")["items"]:
        statuses = pod["status"].get("containerStatuses", [])
        if statuses and all(s["ready"] for s in statuses):
            return dict(pod)
    return None


@pytest.fixture(scope="module")
def z2jh_hub(installed: Installed) -> Iterator[Hub]:
    hub_image, proxy_image = images.build(images.hub_recipe()), images.build(images.proxy_recipe())
    for image in (hub_image, proxy_image):
        installed.node.import_image(image)
    # The guide's values, verbatim, and then only what an admin fills in for their own site: their release's names
    # (this release is not called "jupyternetes"), their pod network, their authenticator, and a token for this test.
    values = yaml.safe_load((REPO / "docs" / "z2jh-values.yaml").read_text())
    config = values["hub"]["config"]
    assert config["JupyterHub"]["spawner_class"] == "jupyternetes"
    config["JupyternetesSpawner"]["template_namespace"] = TEMPLATES
    config["JupyternetesSpawner"]["server_networks"] = [node_mod.POD_CIDR]
    values["hub"]["extraVolumes"][0]["configMap"]["name"] = f"{FULL}-sealing"
    config["JupyternetesSpawner"]["entitlements_configmap"] = f"{FULL}-entitlements"
    password, token = secrets.token_urlsafe(16), secrets.token_hex(32)
    config["JupyterHub"].update(
        authenticator_class="dummy",
        services=[{"name": "test", "api_token": token}],
        load_roles=[{"name": "test", "services": ["test"],
                     "scopes": ["admin:users", "admin:servers", "read:users", "list:users", "access:servers",
                                "tokens"]}])
    config["DummyAuthenticator"] = {"password": password}
    config["Authenticator"] = {"allow_all": True}
    with installed.cluster.kube(ADMIN) as admin:
        for obj in z2jh.objects(Z2JH_RELEASE, HUB, values, hub_image.pinned, proxy_image.pinned,
                                proxy_token=secrets.token_hex(32)):
            admin.create(obj)
        try:
            for component in ("proxy", "hub"):
                cluster_mod.wait_for(f"z2jh's {component} to be ready",
                                     lambda c=component: _ready_pod(admin, c) is not None, timeout=240, interval=1)
        except Exception:
            logs = installed.cluster.kubectl("logs", "-n", HUB, "deployment/hub", "--tail=60")
            pods = installed.cluster.kubectl("get", "pods", "-n", HUB, "-o", "wide")
            raise AssertionError(f"{pods.stdout}\nhub:\n{logs.stdout}{logs.stderr}") from None
        public = admin.get(SERVICE, "proxy-public", HUB)
    # Reached as a user's browser would reach a LoadBalancer: its node port, on the node.
    yield Hub(f"http://{installed.node.node_ip}:{public['spec']['ports'][0]['nodePort']}", token, password)


def _server_ready(api: httpx.Client, user: str) -> bool:
    return bool(api.get(f"/users/{user}").json()["servers"].get("", {}).get("ready"))


def test_a_user_spawns_through_a_z2jh_hub_with_z2jhs_network_policies_in_force(
    installed: Installed, z2jh_hub: Hub,
) -> None:
    from playwright.sync_api import Error as PlaywrightError

    with installed.cluster.kube(ADMIN) as admin:
        policies = {p["metadata"]["name"] for p in admin.list(NETWORK_POLICY, HUB)["items"]}
    assert {"hub", "proxy", "singleuser"} <= policies
    with browser.logged_in(z2jh_hub.url, "ada", z2jh_hub.password) as page:
        deadline = time.monotonic() + 240
        while "/user/ada/" not in page.url and time.monotonic() < deadline:
            with contextlib.suppress(PlaywrightError):
                if page.locator("input[type=submit], button[type=submit]").count() and "/hub/spawn" in page.url:
                    page.click("input[type=submit], button[type=submit]")
            page.wait_for_timeout(300)
        assert "/user/ada/" in page.url, f"{page.url}: {page.inner_text('body')[:2000]}"
        page.wait_for_function("document.title.includes('JupyterLab')", timeout=120_000)
    with installed.cluster.kube(ADMIN) as admin:
        instance = admin.get(kube.INSTANCE, "jupyter-ada", HUB)
        pod = admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"], HUB)
    # The chart's default template, under z2jh's singleuser policy.
    assert pod["metadata"]["labels"]["component"] == "singleuser-server"
    assert pod["metadata"]["labels"]["release"] == Z2JH_RELEASE
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    with z2jh_hub.api() as api:
        assert api.delete("/users/ada/server").status_code in (202, 204)


def test_z2jhs_policies_hold_for_jupyternetes_notebooks(installed: Installed, z2jh_hub: Hub) -> None:
    """From inside a notebook (the kernel API, through the proxy): the hub's API is open to it (the template's
    network-access-hub label), while the proxy's API, the Kubernetes API and another user's notebook, which z2jh's
    policies close to notebooks, are closed."""
    with z2jh_hub.api() as api:
        for user in ("bob", "carol"):
            api.post(f"/users/{user}")
            assert api.post(f"/users/{user}/server").status_code in (201, 202)
        for user in ("bob", "carol"):
            cluster_mod.wait_for(f"{user}'s server", lambda u=user: _server_ready(api, u), timeout=240, interval=1)
        carol_token = api.post("/users/carol/tokens", json={"scopes": ["access:servers!user=carol"]}).json()["token"]
        with installed.cluster.kube(ADMIN) as admin:
            bob = admin.get(kube.POD, admin.get(kube.INSTANCE, "jupyter-bob", HUB)["status"]["pods"]["notebook"][
                "resourceName"], HUB)
            hub_ip = admin.get(SERVICE, "hub", HUB)["spec"]["clusterIP"]
            proxy_api_ip = admin.get(SERVICE, "proxy-api", HUB)["spec"]["clusterIP"]
            proxy_pod_ip = _ready_pod(admin, "proxy")["status"]["podIP"]  # type: ignore[index]
        kernel = Kernel(f"{z2jh_hub.url}/user/carol", carol_token)
        try:
            kernel.run(jupyter.CONNECT)

            def connect(host: str, port: int) -> str:
                return kernel.run(f"print(connect({host!r}, {port}))").strip()
            assert connect(hub_ip, 8081) == "connected"
            # z2jh's proxy policy: its API only for pods labelled network-access-proxy-api (the hub).
            assert connect(proxy_api_ip, 8001) in jupyter.BLOCKED
            assert connect(proxy_pod_ip, 8000) == "connected"  # its public port, as for everyone
            # z2jh's singleuser policy: no private addresses (the API server's Service), no other notebook.
            assert connect("10.96.0.1", 443) in jupyter.BLOCKED
            assert connect(bob["status"]["podIP"], 8888) in jupyter.BLOCKED
        finally:
            kernel.close()
        for user in ("bob", "carol"):
            assert api.delete(f"/users/{user}/server").status_code in (202, 204)


NETWORK_POLICY = kube.KNOWN_TYPES[("networking.k8s.io/v1", "NetworkPolicy")]
SERVICE = kube.KNOWN_TYPES[("v1", "Service")]
