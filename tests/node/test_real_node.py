"""On a real node: JupyterHub spawns through the webhook, OPA and the operator, and each server runs in a real
container (containerd, runc) under the restricted profile, with a real volume for its home and NetworkPolicy enforced
by kube-router. Users log in with headless Chromium; the tests look from inside through the Jupyter kernel API, as a
user would, and check what leaves a pod with real traffic."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components, hostnet
from jupyternetes.dev import node as node_mod
from tests.support import browser
from tests.support.jupyter import BLOCKED, CONNECT, Kernel, server_token, stop_server

REASON = node_mod.why_not()
pytestmark = [pytest.mark.cluster, pytest.mark.real_node,
              pytest.mark.skipif(REASON is not None, reason=f"no real node on this machine: {REASON}")]

NETWORK_POLICY = kube.KNOWN_TYPES[("networking.k8s.io/v1", "NetworkPolicy")]


@dataclass
class Stack:
    cluster: cluster_mod.LocalCluster
    node: node_mod.RealNode
    hub: components.Hub

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.hub.api_url, headers={"Authorization": f"token {self.hub.token}"},
                            timeout=120)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with cluster_mod.running(cluster_mod.ClusterConfig(nodes=0, real_node=True)) as local:
        node = node_mod.RealNode(local)
        node.start()
        try:
            notebook = node.images["notebook"]
            # The officer requires digests; the template names the notebook image by the digest recorded when it
            # was built here.
            policies = components.policies_allowing(local, [f"{notebook.repository}"], require_digest=True)
            _, opa_url = components.start_opa(local, policies)
            components.start_webhook(local, opa_url, policies)
            components.start_operator(local)
            components.install_hub_template(local, notebook.pinned)
            hub = components.start_hub(local, hub_ip=node.node_ip, start_timeout=180)
            yield Stack(local, node, hub)
        finally:
            node.stop()
    assert node.leftovers == [], f"the node's teardown left changes behind: {node.leftovers}"


# Helpers -------------------------------------------------------------------------------------------------------


def _start(api: httpx.Client, user: str) -> None:
    api.post(f"/users/{user}")
    response = api.post(f"/users/{user}/server")
    assert response.status_code in (201, 202), response.text


def _wait_ready(api: httpx.Client, user: str, timeout: float = 180) -> None:
    def ready() -> bool:
        return bool(api.get(f"/users/{user}").json()["servers"].get("", {}).get("ready"))
    cluster_mod.wait_for(f"{user}'s server to be ready", ready, timeout=timeout, interval=0.5)


def _pod(stack: Stack, user: str) -> dict[str, Any]:
    with stack.cluster.kube() as admin:
        instance = admin.get(kube.INSTANCE, f"jupyter-{user}", stack.cluster.config.hub_namespace)
        return admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"],
                         stack.cluster.config.hub_namespace)


@contextlib.contextmanager
def kernel(stack: Stack, api: httpx.Client, user: str) -> Iterator[Kernel]:
    k = Kernel(f"{stack.hub.url}/user/{user}", server_token(api, user))
    try:
        yield k
    finally:
        k.close()


# Tests ---------------------------------------------------------------------------------------------------------


def test_in_a_browser_a_user_starts_jupyterlab_in_a_real_container_as_uid_1000_with_seccomp_and_no_capabilities(
    stack: Stack,
) -> None:
    from playwright.sync_api import Error as PlaywrightError

    with browser.logged_in(stack.hub.url, "ada", components.hub_password(stack.cluster)) as page:
        deadline = time.monotonic() + 240
        while "/user/ada/" not in page.url and time.monotonic() < deadline:
            with contextlib.suppress(PlaywrightError):
                if page.locator("input[type=submit], button[type=submit]").count() and "/hub/spawn" in page.url:
                    page.click("input[type=submit], button[type=submit]")
            page.wait_for_timeout(300)
        assert "/user/ada/" in page.url, f"{page.url}: {page.inner_text('body')[:2000]}"
        page.wait_for_load_state("load")
        page.wait_for_function("document.title.includes('JupyterLab')", timeout=120_000)

    pod = _pod(stack, "ada")
    assert pod["spec"]["nodeName"] == stack.node.name
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["containerID"].startswith("containerd://")
    assert status["imageID"].endswith(stack.node.images["notebook"].digest)
    with stack.api() as api, kernel(stack, api, "ada") as k:
        inside = json.loads(k.run("""
            import json, os
            status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
                          if ":\\t" in line)
            try:
                open("/usr/lib/written-by-the-user", "w")
                root_write = "allowed"
            except OSError as error:
                root_write = type(error).__name__
            print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
                              "seccomp": status["Seccomp"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
                              "caps": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd",
                                                                      "CapAmb")},
                              "home_writable": os.access(os.path.expanduser("~"), os.W_OK),
                              "root_write": root_write, "pid1": open("/proc/1/cmdline").read().split("\\0")[0]}))
        """))
    assert inside["uid"] == 1000 and inside["gid"] == 100 and 100 in inside["groups"]
    assert inside["seccomp"] == "2", "not in seccomp filter mode (RuntimeDefault)"
    assert inside["no_new_privs"] == "1"
    assert set(inside["caps"].values()) == {"0000000000000000"}, inside["caps"]
    assert inside["home_writable"] is True
    assert inside["root_write"] == "PermissionError"
    assert inside["pid1"] == "/usr/bin/tini"  # the image's entrypoint, in the container's own PID namespace


def test_a_saved_notebook_is_there_after_each_of_three_restarts_in_new_containers(stack: Stack) -> None:
    user = "grace"
    notebook = {"type": "notebook", "format": "json", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": "print('kept')"}]}}
    seen_pods: list[str] = []
    with stack.api() as api:
        _start(api, user)
        _wait_ready(api, user)
        with httpx.Client(base_url=f"{stack.hub.url}/user/{user}",
                          headers={"Authorization": f"token {server_token(api, user)}"}, timeout=60) as jupyter:
            saved = jupyter.put("/api/contents/analysis.ipynb", json=notebook)
            assert saved.status_code in (200, 201), saved.text
        seen_pods.append(_pod(stack, user)["metadata"]["uid"])
        for restart in range(3):
            stop_server(api, user)
            _start(api, user)
            _wait_ready(api, user)
            pod = _pod(stack, user)
            assert pod["metadata"]["uid"] not in seen_pods, f"restart {restart + 1} reused a pod"
            seen_pods.append(pod["metadata"]["uid"])
            with httpx.Client(base_url=f"{stack.hub.url}/user/{user}",
                              headers={"Authorization": f"token {server_token(api, user)}"}, timeout=60) as jupyter:
                found = jupyter.get("/api/contents/analysis.ipynb")
                assert found.status_code == 200, f"restart {restart + 1}: {found.text}"
                assert found.json()["content"]["cells"][0]["source"] == "print('kept')"
                # Each restart adds a file, so the last start sees all three.
                jupyter.put(f"/api/contents/restart-{restart + 1}.txt",
                            json={"type": "file", "format": "text", "content": str(restart + 1)})
        with httpx.Client(base_url=f"{stack.hub.url}/user/{user}",
                          headers={"Authorization": f"token {server_token(api, user)}"}, timeout=60) as jupyter:
            names = {item["name"] for item in jupyter.get("/api/contents/").json()["content"]}
        assert {"analysis.ipynb", "restart-1.txt", "restart-2.txt"} <= names
        stop_server(api, user)


def test_with_a_default_deny_policy_one_users_notebook_cannot_reach_anothers_and_the_proxy_still_can(
    stack: Stack,
) -> None:
    namespace = stack.cluster.config.hub_namespace
    with stack.api() as api:
        for user in ("bob", "carol"):
            _start(api, user)
        for user in ("bob", "carol"):
            _wait_ready(api, user)
        bob_ip = _pod(stack, "bob")["status"]["podIP"]
        with kernel(stack, api, "carol") as carol, stack.cluster.kube() as admin:
            carol.run(CONNECT)
            assert carol.run(f"print(connect({bob_ip!r}, 8888))").strip() == "connected"
            policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": "default-deny-but-the-proxy", "namespace": namespace},
                      "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                               # The node: where the hub's proxy runs and connects from (the bridge's address).
                               "ingress": [{"from": [{"ipBlock": {"cidr": f"{node_mod.POD_GATEWAY}/32"}}],
                                            "ports": [{"port": 8888, "protocol": "TCP"}]}]}}
            admin.create(policy)
            try:
                cluster_mod.wait_for(
                    "kube-router to enforce the default-deny policy",
                    lambda: carol.run(f"print(connect({bob_ip!r}, 8888, 1.0))").strip() in BLOCKED,
                    timeout=60, interval=1.0)
                # Refused for good, not once by chance. kube-router rejects, so the error is immediate, unless the
                # kernel's ICMP rate limit swallowed the rejection (then the attempt times out).
                for _ in range(3):
                    assert carol.run(f"print(connect({bob_ip!r}, 8888))").strip() in BLOCKED
                # The user's own way in still works: through the hub's proxy.
                with httpx.Client(base_url=f"{stack.hub.url}/user/bob",
                                  headers={"Authorization": f"token {server_token(api, 'bob')}"}, timeout=30) as bob:
                    assert bob.get("/api/status").status_code == 200
            finally:
                admin.delete(NETWORK_POLICY, policy["metadata"]["name"], namespace)
            cluster_mod.wait_for(
                "kube-router to lift the policy",
                lambda: carol.run(f"print(connect({bob_ip!r}, 8888, 1.0))").strip() == "connected",
                timeout=60, interval=1.0)
        for user in ("bob", "carol"):
            stop_server(api, user)


_OUTSIDE_NAMESPACES: dict[str, str] = {}


def outside_namespace(host: str) -> str:
    return _OUTSIDE_NAMESPACES[host]


@pytest.fixture
def outside_host() -> Iterator[tuple[str, int]]:
    """Another host, in a network namespace of its own behind a veth: reachable from this machine, not from pods.
    It routes back to the pod network, so only the node's guard stands between a pod and it."""
    ns, host_if, peer_if = f"jnt-out-{uuid.uuid4().hex[:6]}", "jntout0", "eth0"
    port = 8000
    netns_dir_existed = Path("/run/netns").exists()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", ns],
                       check=True)
        subprocess.run(["ip", "addr", "add", "198.18.0.1/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        for command in (["ip", "addr", "add", "198.18.0.2/30", "dev", peer_if], ["ip", "link", "set", peer_if, "up"],
                        ["ip", "link", "set", "lo", "up"], ["ip", "route", "add", "default", "via", "198.18.0.1"]):
            subprocess.run(["ip", "netns", "exec", ns, *command], check=True)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", str(port),
                                   "--bind", "198.18.0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cluster_mod.wait_for("the outside host to listen", lambda: _tcp("198.18.0.2", port), timeout=20)
        _OUTSIDE_NAMESPACES["198.18.0.2"] = ns
        yield "198.18.0.2", port
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "delete", host_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
        if not netns_dir_existed:
            # `ip netns` made /run/netns a mount point of its own; leave the host as this fixture found it.
            subprocess.run(["umount", "/run/netns"], check=False, capture_output=True)
            with contextlib.suppress(OSError):
                Path("/run/netns").rmdir()


def _tcp(host: str, port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


def test_a_notebook_reaches_the_node_and_other_pods_but_no_address_beyond_this_machine(
    stack: Stack, outside_host: tuple[str, int],
) -> None:
    host, port = outside_host
    assert _tcp(host, port), "the outside host must be reachable from this machine, or this test proves nothing"
    hub_api = httpx.URL(stack.hub.api_url)
    with stack.api() as api:
        _start(api, "eve")
        _wait_ready(api, "eve")
        hub_port = int(open(stack.hub.config_file).read().split(f"http://{stack.node.node_ip}:")[1].split("'")[0])
        with kernel(stack, api, "eve") as eve:
            eve.run(CONNECT)
            assert eve.run(f"print(connect({stack.node.node_ip!r}, {hub_port}))").strip() == "connected"
            assert eve.run(f"print(connect({host!r}, {port}))").strip() in ("TimeoutError", "timeout")
            # Nor by another route: the machine's own loopback services are not reachable from a pod either.
            assert eve.run(f"print(connect('127.0.0.1', {hub_api.port}))").strip() != "connected"
            # No IPv6 in a pod (kube-router enforces NetworkPolicy for IPv4 only here): no address, no route.
            assert eve.run("print(open('/proc/sys/net/ipv6/conf/all/disable_ipv6').read().strip())").strip() == "1"
            assert eve.run("print(connect('fe80::1%eth0', 8888))").strip() != "connected"
            # The hub's API is reachable, but its password is not the published one: no notebook can log in as
            # another user (or admin) and take a token.
            answer = eve.run(f"""
                import json, urllib.request, urllib.error
                request = urllib.request.Request(
                    "http://{stack.node.node_ip}:{hub_port}/hub/api/users/admin/tokens", method="POST",
                    data=json.dumps({{"auth": {{"username": "admin", "password": "jupyternetes"}}}}).encode(),
                    headers={{"Content-Type": "application/json"}})
                try:
                    print(urllib.request.urlopen(request, timeout=10).status)
                except urllib.error.HTTPError as error:
                    print(error.code)
            """)
            assert answer.strip() == "403", answer
        # From the other side: a host behind another interface, routing to the node, reaches neither the node's
        # address nor a pod.
        eve_ip = _pod(stack, "eve")["status"]["podIP"]
        ns = outside_namespace(host)
        for target, target_port in ((stack.node.node_ip, hub_port), (eve_ip, 8888)):
            probe = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", f"import socket; "
                                    f"socket.create_connection(({target!r}, {target_port}), timeout=3)"],
                                   capture_output=True, text=True, timeout=30)
            assert probe.returncode != 0, f"{target}:{target_port} was reachable from the outside host"
        assert hostnet.guard_installed(), "the guard is no longer first in mangle FORWARD and raw PREROUTING"
        stop_server(api, "eve")


def test_kubectl_logs_and_exec_reach_the_container_through_the_node_identity(stack: Stack) -> None:
    with stack.api() as api:
        _start(api, "lin")
        _wait_ready(api, "lin")
        pod = _pod(stack, "lin")["metadata"]["name"]
        ns = stack.cluster.config.hub_namespace
        logs = stack.cluster.kubectl("logs", "-n", ns, pod)
        assert logs.returncode == 0 and "JupyterHub" in logs.stdout + logs.stderr, logs.stderr
        exec_id = stack.cluster.kubectl("exec", "-n", ns, pod, "--", "id", "-u")
        assert exec_id.returncode == 0 and exec_id.stdout.strip() == "1000", exec_id.stderr
        stop_server(api, "lin")


def test_the_nodes_own_credentials_read_only_what_its_pods_need(stack: Stack) -> None:
    """The Node authorizer and NodeRestriction: the kubelet's certificate cannot read a Secret no pod on it uses,
    list Secrets, or change another node."""
    kubeconfig = stack.node.state_dir / "pki" / "kubelet-client.kubeconfig"
    with stack.cluster.kube() as admin:
        admin.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "unrelated", "namespace": "default"},
                      "stringData": {"password": "not for the node"}})
        admin.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "another-node"}})
    try:
        with kube.Kube(kube.KubeConfig.from_file(kubeconfig)) as kubelet:
            with pytest.raises(kube.Forbidden):
                kubelet.get(kube.SECRET, "unrelated", "default")
            with pytest.raises(kube.Forbidden):
                kubelet.list(kube.SECRET, "default")
            with pytest.raises(kube.Forbidden):
                kubelet.patch(kube.KNOWN_TYPES[("v1", "Node")], "another-node", {"metadata": {"labels": {"x": "y"}}})
    finally:
        with stack.cluster.kube() as admin:
            admin.delete(kube.SECRET, "unrelated", "default")
            admin.delete(kube.KNOWN_TYPES[("v1", "Node")], "another-node")


def test_the_policies_require_digests_and_refuse_the_same_image_by_tag(stack: Stack) -> None:
    notebook = stack.node.images["notebook"]
    template = kube.load_manifests(components.HUB_TEMPLATE_FILE.read_text(), str(components.HUB_TEMPLATE_FILE))[0]
    template["metadata"].update(name="by-tag", namespace=stack.cluster.config.template_namespace)
    template["spec"]["pods"][0]["spec"]["containers"][0]["image"] = notebook.reference
    with stack.cluster.kube(cluster_mod.OFFICER) as officer, pytest.raises(kube.ApiError) as refused:
        officer.create(template)
    assert "digest" in str(refused.value), str(refused.value)
    assert notebook.reference in str(refused.value)


def test_the_kubelet_stops_a_server_at_its_session_limit_and_the_status_says_so(stack: Stack) -> None:
    """activeDeadlineSeconds, which session limits fill in, enforced by the real kubelet: the pod fails with
    DeadlineExceeded, and the operator reports the limit in words the spawner passes on to the user."""
    namespace, templates = stack.cluster.config.hub_namespace, stack.cluster.config.template_namespace
    template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                "metadata": {"name": "twenty-seconds", "namespace": templates},
                "spec": {"pods": [{"name": "main", "spec": {"activeDeadlineSeconds": 20, "containers": [
                    {"name": "main", "image": stack.node.images["notebook"].pinned, "command": ["sleep", "3600"]}]}}]}}
    name = f"short-{uuid.uuid4().hex[:6]}"
    instance = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"template": {"name": "twenty-seconds", "namespace": templates},
                         "variables": {"jupyterhub.user.name": "sam", "jupyterhub.user.id": "9"}}}
    with stack.cluster.kube(cluster_mod.OFFICER) as officer:
        officer.create(template)
    with stack.cluster.kube(cluster_mod.HUB) as hub, stack.cluster.kube() as admin:
        hub.create(instance)
        try:
            def state() -> dict[str, Any]:
                return ((admin.get(kube.INSTANCE, name, namespace).get("status") or {}).get("pods") or {}).get(
                    "main") or {}
            # Under load the deadline may come before the operator has seen the pod running: either way it fails.
            cluster_mod.wait_for("the kubelet to stop it", lambda: state().get("state") == "Failed", timeout=180)
            pod = admin.get(kube.POD, state()["resourceName"], namespace)
            assert pod["status"]["reason"] == "DeadlineExceeded", pod["status"]  # at its deadline, not for another reason
            assert state()["errorMessage"] == "DeadlineExceeded: the server reached its session limit of 20 seconds"
        finally:
            hub.delete(kube.INSTANCE, name, namespace)
