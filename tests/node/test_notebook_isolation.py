"""Notebook isolation with real traffic, on a real node: the NetworkPolicies `dev up` applies (the chart's, shaped for
a hub that runs on the host) let a notebook reach the hub's API and nothing else of the cluster, let only the proxy
in, and widen egress to exactly the destination a security officer named, for the pods whose template asks for it.
Connections are made from inside the notebooks, through the Jupyter kernel API, as a user would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest
import yaml

from jupyternetes import kube, network
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from jupyternetes.dev import node as node_mod
from tests.support.jupyter import BLOCKED, CONNECT, Kernel, server_token, start_server, stop_server

REASON = node_mod.why_not()
pytestmark = [pytest.mark.cluster, pytest.mark.real_node,
              pytest.mark.skipif(REASON is not None, reason=f"no real node on this machine: {REASON}")]

NETWORK_POLICY = kube.KNOWN_TYPES[("networking.k8s.io/v1", "NetworkPolicy")]
MIRROR_NAMESPACE: Final = "package-mirror"
MIRROR_PORT: Final = 8080
OTHER_PORT: Final = 9090
#: The mirror: two ports, only one of which the officer names.
SERVE: Final = (f"import http.server, threading\n"
                f"for port in ({MIRROR_PORT}, {OTHER_PORT}):\n"
                f"    server = http.server.ThreadingHTTPServer(('0.0.0.0', port), http.server.SimpleHTTPRequestHandler)\n"
                f"    threading.Thread(target=server.serve_forever).start()\n")


@dataclass
class Isolated:
    cluster: cluster_mod.LocalCluster
    node: node_mod.RealNode
    hub: components.Hub
    hub_port: int
    policies: list[dict[str, Any]]
    mirror_ip: str

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.hub.api_url, headers={"Authorization": f"token {self.hub.token}"},
                            timeout=120)


@pytest.fixture(scope="module")
def isolated() -> Iterator[Isolated]:
    with cluster_mod.running(cluster_mod.ClusterConfig(nodes=0, real_node=True)) as local:
        node = node_mod.RealNode(local)
        node.start()
        try:
            notebook = node.images["notebook"]
            policies = components.policies_allowing(local, [notebook.repository])
            data_file = policies / "data.yaml"
            data = yaml.safe_load(data_file.read_text())
            data["jupyternetes"]["config"]["network"]["destinations"] = {"mirror": {
                "description": "a package mirror in a namespace of its own",
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": MIRROR_NAMESPACE}},
                        "podSelector": {"matchLabels": {"app": "mirror"}}}],
                "ports": [{"port": MIRROR_PORT, "protocol": "TCP"}]}}
            data_file.write_text(yaml.safe_dump(data, sort_keys=False))
            _, opa_url = components.start_opa(local, policies)
            components.start_webhook(local, opa_url, policies)
            components.start_operator(local)
            components.install_hub_template(local, notebook.pinned)
            hub = components.start_hub(local, hub_ip=node.node_ip, start_timeout=180)
            hub_port = components.hub_api_port(local)
            made = components.isolate_notebooks(local, node.node_ip, hub_port, policies)
            mirror_ip = _start_mirror(local, notebook.pinned)
            yield Isolated(local, node, hub, hub_port, made, mirror_ip)
        finally:
            node.stop()
    assert node.leftovers == [], f"the node's teardown left changes behind: {node.leftovers}"


def _start_mirror(local: cluster_mod.LocalCluster, image: str) -> str:
    with local.kube() as admin:
        admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MIRROR_NAMESPACE}})
        admin.create({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "mirror", "namespace": MIRROR_NAMESPACE, "labels": {"app": "mirror"}},
                      "spec": {"automountServiceAccountToken": False,
                               "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                                   "seccompProfile": {"type": "RuntimeDefault"}},
                               "containers": [{"name": "mirror", "image": image, "command": ["python", "-c", SERVE],
                                               "workingDir": "/tmp",
                                               "securityContext": {"allowPrivilegeEscalation": False,
                                                                   "capabilities": {"drop": ["ALL"]}}}]}})

        def running() -> str | None:
            pod = admin.get(kube.POD, "mirror", MIRROR_NAMESPACE)
            ready = pod["status"].get("phase") == "Running" and pod["status"].get("podIP")
            return pod["status"]["podIP"] if ready else None
        cluster_mod.wait_for("the mirror to run", lambda: running() is not None, timeout=120, interval=0.5)
        return str(running())


# Helpers -------------------------------------------------------------------------------------------------------


def _pod(isolated: Isolated, user: str) -> dict[str, Any]:
    with isolated.cluster.kube() as admin:
        instance = admin.get(kube.INSTANCE, f"jupyter-{user}", isolated.cluster.config.hub_namespace)
        return admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"],
                         isolated.cluster.config.hub_namespace)


@contextlib.contextmanager
def kernel(isolated: Isolated, api: httpx.Client, user: str) -> Iterator[Kernel]:
    k = Kernel(f"{isolated.hub.url}/user/{user}", server_token(api, user))
    try:
        k.run(CONNECT)
        yield k
    finally:
        k.close()


def _reach(k: Kernel, host: str, port: int) -> str:
    return k.run(f"print(connect({host!r}, {port}))").strip()


def _through_the_proxy(isolated: Isolated, api: httpx.Client, user: str) -> int:
    with httpx.Client(base_url=f"{isolated.hub.url}/user/{user}",
                      headers={"Authorization": f"token {server_token(api, user)}"},
                      timeout=30) as client:
        return client.get("/api/status").status_code


def _template(isolated: Isolated, officer: kube.Kube) -> dict[str, Any]:
    return officer.get(kube.TEMPLATE, components.HUB_TEMPLATE, isolated.cluster.config.template_namespace)


# Tests ---------------------------------------------------------------------------------------------------------


def test_a_notebook_reaches_the_hubs_api_and_nothing_else_and_only_the_proxy_reaches_it(isolated: Isolated) -> None:
    node_ip = isolated.node.node_ip
    with isolated.api() as api:
        for user in ("ann", "bea"):
            start_server(api, user)
        bea_ip = _pod(isolated, "bea")["status"]["podIP"]
        with isolated.cluster.kube() as admin:
            kubelet_port = int(admin.get(kube.KNOWN_TYPES[("v1", "Node")], node_mod.NODE_NAME)[
                "status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"])
        with kernel(isolated, api, "ann") as ann:
            assert _reach(ann, node_ip, isolated.hub_port) == "connected"
            refused = {
                "another user's notebook": (bea_ip, 8888),
                "the Kubernetes API through its Service": (cluster_mod.SERVICE_IP, 443),
                "the Kubernetes API on the node": (node_ip, node_mod.API_FORWARD_PORT),
                "the kubelet": (node_ip, kubelet_port),
                "the mirror, which ann's template does not ask for": (isolated.mirror_ip, MIRROR_PORT),
                "the cloud metadata address": ("169.254.169.254", 80),
            }
            for what, (host, port) in refused.items():
                assert _reach(ann, host, port) in BLOCKED, f"ann reached {what} at {host}:{port}"
            # The proxy, which connects from the node, still reaches both servers: the users' own way in.
            assert _through_the_proxy(isolated, api, "ann") == 200
            assert _through_the_proxy(isolated, api, "bea") == 200

            # The policies are what refuses: without the isolation policy, the same connections go through.
            with isolated.cluster.kube() as admin:
                isolation = admin.get(NETWORK_POLICY, network.ISOLATION_POLICY, isolated.cluster.config.hub_namespace)
                admin.delete(NETWORK_POLICY, network.ISOLATION_POLICY, isolated.cluster.config.hub_namespace)
                try:
                    cluster_mod.wait_for("kube-router to lift the isolation",
                                         lambda: _reach(ann, bea_ip, 8888) == "connected", timeout=60, interval=1.0)
                    assert _reach(ann, node_ip, kubelet_port) == "connected"
                    assert _reach(ann, isolated.mirror_ip, MIRROR_PORT) == "connected"
                finally:
                    admin.create({key: isolation[key] for key in ("apiVersion", "kind", "spec")} | {
                        "metadata": {k: isolation["metadata"][k] for k in ("name", "namespace", "labels")}})
                cluster_mod.wait_for("kube-router to isolate again",
                                     lambda: _reach(ann, bea_ip, 8888) in BLOCKED, timeout=60, interval=1.0)
        for user in ("ann", "bea"):
            stop_server(api, user)


def test_a_template_that_asks_for_a_named_destination_reaches_it_on_its_ports_only(isolated: Isolated) -> None:
    namespace = isolated.cluster.config.template_namespace
    with isolated.cluster.kube(cluster_mod.OFFICER) as officer, isolated.api() as api:
        original = _template(isolated, officer)
        labels = original["spec"]["pods"][0].get("labels") or {}
        officer.patch(kube.TEMPLATE, components.HUB_TEMPLATE, [
            {"op": "add", "path": "/spec/pods/0/labels", "value": {**labels, network.egress_label("mirror"): "true"}}],
            namespace, content_type=kube.JSON_PATCH)
        try:
            start_server(api, "cid")
            assert _pod(isolated, "cid")["metadata"]["labels"][network.egress_label("mirror")] == "true"
            start_server(api, "dan")
            dan_ip = _pod(isolated, "dan")["status"]["podIP"]
            with kernel(isolated, api, "cid") as cid:
                assert _reach(cid, isolated.mirror_ip, MIRROR_PORT) == "connected"
                assert _reach(cid, isolated.mirror_ip, OTHER_PORT) in BLOCKED
                # The destination widens nothing else: another notebook (with the same label) is still out of reach.
                assert _reach(cid, dan_ip, 8888) in BLOCKED
                assert _reach(cid, cluster_mod.SERVICE_IP, 443) in BLOCKED
        finally:
            officer.patch(kube.TEMPLATE, components.HUB_TEMPLATE, [
                {"op": "replace", "path": "/spec/pods/0/labels", "value": labels}], namespace,
                content_type=kube.JSON_PATCH)
        for user in ("cid", "dan"):
            stop_server(api, user)


def test_the_webhook_refuses_templates_that_would_widen_their_own_egress(isolated: Isolated) -> None:
    with isolated.cluster.kube(cluster_mod.OFFICER) as officer:
        template = _template(isolated, officer)
        unnamed = {"apiVersion": template["apiVersion"], "kind": template["kind"],
                   "metadata": {"name": "wants-the-internet", "namespace": template["metadata"]["namespace"]},
                   "spec": template["spec"]}
        unnamed["spec"]["pods"][0]["labels"] = {network.egress_label("internet"): "true"}
        with pytest.raises(kube.Forbidden) as refused:
            officer.create(unnamed, dryRun="All")
        assert 'asks for egress to "internet", which is not a destination in network.destinations' in \
            refused.value.message
        assert "mirror" in refused.value.message  # the fix names the destinations there are
        own_policy = {**unnamed, "metadata": {**unnamed["metadata"], "name": "opens-itself"}}
        own_policy["spec"] = {**template["spec"], "otherResources": [{
            "name": "open", "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "body": {"spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}}}]}
        own_policy["spec"]["pods"][0]["labels"] = {}
        with pytest.raises(kube.Forbidden) as refused:
            officer.create(own_policy, dryRun="All")
        assert "templates cannot make NetworkPolicies" in refused.value.message
