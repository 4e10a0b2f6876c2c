"""End to end: real JupyterHub and configurable-http-proxy with the Jupyternetes spawner, on the real control plane
with the webhook, OPA and the operator; the kubelet stand-in runs each pod's jupyterhub-singleuser at the pod's
(loopback) IP. Users log in and start servers through the hub's REST API and in headless Chromium."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from tests.support import browser

pytestmark = pytest.mark.cluster

PROFILES = """
c.JupyternetesSpawner.profile_list = [
    {"display_name": "Notebook", "slug": "notebook", "description": "JupyterLab with a 1 GiB home",
     "template": "jupyter-notebook", "template_namespace": "kadense", "default": True},
    {"display_name": "Forbidden", "slug": "forbidden", "description": "asks for a variable no policy allows",
     "template": "jupyter-notebook", "template_namespace": "kadense",
     "variables": {"image.override": "docker.io/evil/miner"}},
]
"""


@dataclass
class Stack:
    cluster: cluster_mod.LocalCluster
    hub: components.Hub
    hub_port: int

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.hub.api_url, headers={"Authorization": f"token {self.hub.token}"},
                            timeout=120)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = cluster_mod.ClusterConfig(pod_cidr_prefix=f"127.{random.randint(20, 250)}")
    with cluster_mod.running(config) as local:
        _, opa_url = components.start_opa(local)
        components.start_webhook(local, opa_url)
        components.start_operator(local)
        components.start_kubelet(local)
        components.install_hub_template(local)
        port = cluster_mod.free_port()
        yield Stack(local, components.start_hub(local, port=port, extra=PROFILES), port)


def _start(api: httpx.Client, user: str, server: str = "", options: dict[str, Any] | None = None) -> httpx.Response:
    api.post(f"/users/{user}")
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    return api.post(path, json=options or {})


def _wait_ready(api: httpx.Client, user: str, server: str = "", timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = api.get(f"/users/{user}").json()
        state = model["servers"].get(server)
        if state and state["ready"]:
            return dict(state)
        if state is None and model.get("pending") is None and time.monotonic() > deadline - timeout + 5:
            break
        time.sleep(0.5)
    raise AssertionError(f"{user}/{server} did not become ready: {api.get(f'/users/{user}').text}")


def _user_client(stack: Stack, api: httpx.Client, user: str) -> httpx.Client:
    token = api.post(f"/users/{user}/tokens", json={"scopes": [f"access:servers!user={user}"]}).json()["token"]
    return httpx.Client(base_url=stack.hub.url, headers={"Authorization": f"token {token}"}, timeout=30)


def test_a_user_starts_a_server_through_the_rest_api_reaches_it_and_stops_it(stack: Stack) -> None:
    with stack.api() as api:
        response = _start(api, "alice")
        assert response.status_code in (201, 202), response.text
        server = _wait_ready(api, "alice")
        with stack.cluster.kube() as admin:
            instance = admin.get(kube.INSTANCE, "jupyter-alice", "default")
        assert server["state"] == {
            "instance_name": "jupyter-alice",
            "instance_namespace": "default",
            "instance_uid": instance["metadata"]["uid"],
        }
        with stack.cluster.kube() as admin:
            pod_state = instance["status"]["pods"]["notebook"]
            pod = admin.get(kube.POD, pod_state["resourceName"], "default")
            pvc = admin.get(kube.PVC, instance["status"]["pvcs"]["home"]["resourceName"], "default")
        assert pod["status"]["phase"] == "Running" and pvc["status"]["phase"] == "Bound"
        with _user_client(stack, api, "alice") as user:
            status = user.get("/user/alice/api/status")
            assert status.status_code == 200, status.text
            assert "started" in status.json()
        assert api.delete("/users/alice/server").status_code in (202, 204)
        with stack.cluster.kube() as admin:
            cluster_mod.wait_for("the instance to go", lambda: not admin.exists(kube.INSTANCE, "jupyter-alice", "default"), timeout=60)
            assert admin.get(kube.PVC, pvc["metadata"]["name"], "default")  # the workspace is kept


def _wait_stopped(api: httpx.Client, user: str, server: str = "", timeout: float = 60) -> None:
    def stopped() -> bool:
        model = api.get(f"/users/{user}").json()
        return server not in model["servers"] and not model.get("pending")
    cluster_mod.wait_for(f"{user}/{server} to stop", stopped, timeout=timeout, interval=0.3)


@pytest.mark.parametrize(("user", "server"), [("rita", ""), ("sam", "notes")], ids=["default", "named"])
def test_a_user_stops_and_starts_the_same_server_five_times_and_each_start_reaches_jupyterlab_with_a_working_token(
    stack: Stack, user: str, server: str
) -> None:
    """Same instance name, one operator lifetime, the webhook and sealed variables in the loop: every start is a new
    instance (uid) with a new Secret holding that start's API token, and its pod and Secret belong to that instance
    (the webhook admitted them against it, not against a deleted one it might have cached). The server's /api/status
    answers a user's token only after checking it with the hub using its own API token, so a 200 there proves the
    token in the pod works."""
    prefix = f"/user/{user}/{server}/" if server else f"/user/{user}/"
    path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
    seen: list[tuple[str, str]] = []
    with stack.api() as api:
        for round_ in range(5):
            response = _start(api, user, server)
            assert response.status_code in (201, 202), (round_, response.text)
            state = _wait_ready(api, user, server)["state"]
            with stack.cluster.kube() as admin:
                instance = admin.get(kube.INSTANCE, state["instance_name"], state["instance_namespace"])
                uid = instance["metadata"]["uid"]
                secret = admin.get(kube.SECRET, instance["status"]["secret"]["resourceName"],
                                   state["instance_namespace"])
                pod = admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"],
                                state["instance_namespace"])
            assert state["instance_uid"] == uid, round_
            assert [r["uid"] for r in secret["metadata"]["ownerReferences"]] == [uid], round_
            assert [r["uid"] for r in pod["metadata"]["ownerReferences"]] == [uid], round_
            seen.append((uid, secret["metadata"]["uid"]))
            with _user_client(stack, api, user) as client:
                status = client.get(prefix + "api/status")
                assert status.status_code == 200, (round_, status.text)
                lab = client.get(prefix + "lab")
                assert lab.status_code == 200 and "JupyterLab" in lab.text, (round_, lab.status_code)
            assert api.delete(path).status_code in (202, 204)
            _wait_stopped(api, user, server)
    assert len({uid for uid, _ in seen}) == 5 and len({secret for _, secret in seen}) == 5, seen


def test_named_servers(stack: Stack) -> None:
    with stack.api() as api:
        assert _start(api, "carol", "analysis").status_code in (201, 202)
        _wait_ready(api, "carol", "analysis")
        with _user_client(stack, api, "carol") as user:
            assert user.get("/user/carol/analysis/api/status").status_code == 200
        with stack.cluster.kube() as admin:
            assert admin.get(kube.INSTANCE, "jupyter-carol--analysis", "default")
        api.delete("/users/carol/servers/analysis")


def test_a_policy_denial_reaches_the_user_as_a_readable_message(stack: Stack) -> None:
    with stack.api() as api:
        response = _start(api, "mallory", options={"profile": "forbidden"})
        # The failure arrives on the progress stream, which ends with it (a 202 means the start was still pending).
        message = response.text + api.get("/users/mallory/server/progress", timeout=60).text
        assert "Your server could not start" in message
        assert "image.override" in message and "neither used by the template nor defined by the spawner" in message


def test_a_hub_restart_keeps_a_running_server(stack: Stack) -> None:
    """The hub process is stopped and a new one started: the server it finds is the same instance and the same pod,
    not one made again under the same name."""
    with stack.api() as api:
        assert _start(api, "bob").status_code in (201, 202)
        before = _wait_ready(api, "bob")["state"]
    with stack.cluster.kube() as admin:
        pod_uid = admin.get(kube.POD, admin.get(kube.INSTANCE, "jupyter-bob", "default")["status"]["pods"][
            "notebook"]["resourceName"], "default")["metadata"]["uid"]
    old_pid = stack.hub.process.popen.pid if stack.hub.process.popen else None
    stack.hub.process.stop()
    stack.cluster.processes.remove(stack.hub.process)
    stack.hub = components.start_hub(stack.cluster, port=stack.hub_port, extra=PROFILES)
    assert stack.hub.process.popen is not None and stack.hub.process.popen.pid != old_pid
    with stack.api() as api:
        server = _wait_ready(api, "bob", timeout=30)
        assert server["state"] == before  # same instance name, namespace and uid
        with stack.cluster.kube() as admin:
            instance = admin.get(kube.INSTANCE, "jupyter-bob", "default")
            assert instance["metadata"]["uid"] == before["instance_uid"]
            pod = admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"], "default")
            assert pod["metadata"]["uid"] == pod_uid
        with _user_client(stack, api, "bob") as user:
            assert user.get("/user/bob/api/status").status_code == 200
        api.delete("/users/bob/server")


def test_in_a_browser_a_user_logs_in_presses_start_watches_progress_and_lands_in_jupyterlab(stack: Stack) -> None:
    from playwright.sync_api import Error as PlaywrightError

    with browser.logged_in(stack.hub.url, "dana", components.hub_password(stack.cluster)) as page:
        page.wait_for_url("**/hub/spawn**", timeout=30_000)
        assert page.is_checked("input#profile-notebook")
        page.click("input[type=submit], button[type=submit]")
        messages: set[str] = set()
        deadline = time.monotonic() + 120
        while "/user/dana/" not in page.url and time.monotonic() < deadline:
            with contextlib.suppress(PlaywrightError):  # the page navigates away once the server is up
                messages.update(page.locator(".progress-log-event").all_text_contents())
                messages.update(page.locator("#progress-message").all_text_contents())
            page.wait_for_timeout(200)
        assert "/user/dana/" in page.url, page.url
        assert any("Requested notebook instance jupyter-dana" in m for m in messages), messages
        page.wait_for_load_state("load")
        page.wait_for_function("document.title.includes('JupyterLab')", timeout=60_000)
