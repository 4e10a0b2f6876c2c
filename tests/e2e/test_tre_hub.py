"""End to end, the controls of a trusted research environment as hub users meet them: a real JupyterHub (with its
idle culler) and configurable-http-proxy, the Jupyternetes spawner, webhook, OPA and operator on the real control
plane, with policy data that sets entitlements and session limits; the kubelet stand-in runs the servers and stops
them at their deadline as the kubelet does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import components
from tests.support import browser, processes
from tests.support.policies import with_data
from tests.support.stacks import stop

pytestmark = pytest.mark.cluster

SESSION_SECONDS = 30
DATA = {
    "entitlements": {"rules": [
        {"templates": ["kadense/jupyter-notebook", "kadense/short-notebook"], "users": ["*"]},
        {"templates": ["kadense/restricted-notebook"], "groups": ["gpu-researchers"]},
    ]},
    "sessions": {"max_seconds": 28800, "templates": {"kadense/short-notebook": SESSION_SECONDS}},
}
CONFIG = """
c.JupyterHub.load_groups = {"gpu-researchers": {"users": ["ada"]}}
c.Spawner.poll_interval = 2
c.JupyternetesSpawner.profile_list = [
    {"display_name": "Notebook", "slug": "notebook", "template": "jupyter-notebook", "template_namespace": "kadense",
     "default": True},
    {"display_name": "Restricted", "slug": "restricted", "template": "restricted-notebook",
     "template_namespace": "kadense"},
    {"display_name": "Short", "slug": "short", "template": "short-notebook", "template_namespace": "kadense"},
]
"""


@dataclass
class Stack:
    cluster: cluster_mod.LocalCluster
    hub: components.Hub

    def api(self, hub: components.Hub | None = None) -> httpx.Client:
        hub = hub or self.hub
        return httpx.Client(base_url=hub.api_url, headers={"Authorization": f"token {hub.token}"}, timeout=120)

    def as_user(self, api: httpx.Client, user: str, hub: components.Hub | None = None) -> httpx.Client:
        api.post(f"/users/{user}")
        token = api.post(f"/users/{user}/tokens", json={"scopes": ["inherit"]}).json()["token"]
        return httpx.Client(base_url=(hub or self.hub).url, headers={"Authorization": f"token {token}"}, timeout=60,
                            follow_redirects=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = cluster_mod.ClusterConfig(pod_cidr_prefix=f"127.{random.randint(20, 250)}")
    policies = with_data(tmp_path_factory.mktemp("tre-hub") / "policies", DATA)
    with cluster_mod.running(config) as local:
        _, opa_url = components.start_opa(local, policies)
        components.start_webhook(local, opa_url, policies)
        components.start_operator(local)
        components.start_kubelet(local)
        components.install_hub_template(local)
        template = kube.load_manifests(components.HUB_TEMPLATE_FILE.read_text())[0]
        with local.kube(cluster_mod.OFFICER) as officer:
            for name in ("restricted-notebook", "short-notebook"):
                officer.create({**template, "metadata": {"name": name, "namespace": local.config.template_namespace}})
        yield Stack(local, components.start_hub(local, extra=CONFIG))


def _cullers(marker: str) -> set[int]:
    """The pids of running idle cullers whose command line has `marker`."""
    return processes.pids_with("jupyterhub_idle_culler", marker)


def _wait(what: str, check: object, timeout: float) -> None:
    cluster_mod.wait_for(what, check, timeout=timeout, interval=0.5)  # type: ignore[arg-type]


def _server(api: httpx.Client, user: str) -> dict[str, object] | None:
    return api.get(f"/users/{user}").json()["servers"].get("")  # type: ignore[no-any-return]


def _profiles_offered(stack: Stack, user: str) -> list[str]:
    with browser.logged_in(stack.hub.url, user, components.hub_password(stack.cluster)) as page:
        page.goto(f"{stack.hub.url}/hub/spawn")
        page.wait_for_selector("form#spawn_form", timeout=30_000)
        return [str(value) for value in page.locator("input[name=profile]").evaluate_all(
            "inputs => inputs.map(i => i.value)")]


def test_the_spawn_page_offers_each_user_only_the_profiles_they_are_entitled_to(stack: Stack) -> None:
    assert _profiles_offered(stack, "mallory") == ["notebook", "short"]
    assert _profiles_offered(stack, "ada") == ["notebook", "restricted", "short"]


def test_a_start_of_a_profile_the_user_is_not_entitled_to_is_refused_with_a_reason_and_makes_nothing(
    stack: Stack
) -> None:
    with stack.api() as api:
        api.post("/users/mallory")
        response = api.post("/users/mallory/server", json={"profile": "restricted"})
        assert response.status_code == 400, response.text
        assert "you are not entitled to the profile 'restricted'" in response.text
        assert _server(api, "mallory") is None
    with stack.cluster.kube() as admin:
        assert not admin.exists(kube.INSTANCE, "jupyter-mallory", "default")


def test_a_member_of_the_group_starts_the_restricted_profile(stack: Stack) -> None:
    with stack.api() as api:
        api.post("/users/ada")
        assert api.post("/users/ada/server", json={"profile": "restricted"}).status_code in (201, 202)
        _wait("ada's server", lambda: (_server(api, "ada") or {}).get("ready"), 120)
        with stack.cluster.kube() as admin:
            instance = admin.get(kube.INSTANCE, "jupyter-ada", "default")
        assert instance["spec"]["template"]["name"] == "restricted-notebook"
        assert instance["spec"]["variables"]["jupyterhub.user.groups"] == '["gpu-researchers"]'
        assert instance["status"]["template"]["name"] == "restricted-notebook"
        assert api.delete("/users/ada/server").status_code in (202, 204)


def test_a_server_stops_at_its_session_limit_and_the_user_is_told_why(stack: Stack) -> None:
    with stack.api() as api:
        api.post("/users/sam")
        assert api.post("/users/sam/server", json={"profile": "short"}).status_code in (201, 202)
        _wait("sam's server", lambda: (_server(api, "sam") or {}).get("ready"), 120)
        with stack.cluster.kube() as admin:
            instance = admin.get(kube.INSTANCE, "jupyter-sam", "default")
            pod = admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"], "default")
        assert pod["spec"]["activeDeadlineSeconds"] == SESSION_SECONDS
        # The hub learns the server has stopped (its poll), stops it, and keeps why.
        _wait("the hub to see sam's server stop", lambda: _server(api, "sam") is None, SESSION_SECONDS + 90)
        with stack.as_user(api, "sam") as sam:
            page = sam.get("/hub/user/sam/")
        assert page.status_code == 424, page.text
        assert "because it reached its session limit of 30 seconds, set by your administrators" in page.text
    with browser.logged_in(stack.hub.url, "sam", components.hub_password(stack.cluster)) as page:
        page.goto(f"{stack.hub.url}/hub/spawn")
        assert "session limit of 30 seconds" in page.inner_text("#jupyternetes-stop-reason")


def test_the_idle_culler_stops_a_server_nobody_uses(stack: Stack) -> None:
    """jupyterhub-idle-culler runs beside the hub, as in Zero to JupyterHub; here with a 10-second timeout (3600 by
    default) on a second hub, so that the other tests' servers are not culled."""
    culling = components.start_hub(stack.cluster, name="culling-hub", cull_timeout=10, cull_every=3)
    with stack.api(culling) as api:
        api.post("/users/idle-ivy")
        assert api.post("/users/idle-ivy/server").status_code in (201, 202)
        _wait("ivy's server", lambda: (_server(api, "idle-ivy") or {}).get("ready"), 120)
        _wait("the culler to stop ivy's idle server", lambda: _server(api, "idle-ivy") is None, 90)
    # The culler, not anyone else, stopped it: the hub's log has the culler's request and its own words.
    log = culling.process.log_path.read_text(errors="replace")
    assert "Culling server idle-ivy" in log, log[-3000:]
    # And it goes with its hub: JupyterHub starts it in a session of its own, which stopping the hub did not reach.
    cullers = _cullers("--timeout=10")
    assert cullers, "no culler ran beside the culling hub"
    stop(stack.cluster, culling.process)
    cluster_mod.wait_for("the culler to go with its hub", lambda: not (_cullers("--timeout=10") & cullers), timeout=30)
    with stack.cluster.kube() as admin:
        cluster_mod.wait_for("ivy's instance to go", lambda: not admin.exists(kube.INSTANCE, "jupyter-idle-ivy",
                                                                              "default"), timeout=60)
