"""The Spawner contract, checked as KubeSpawner's own tests check it, against the real control plane with the
operator, the webhook and OPA: poll before start is an integer, start returns a URL, poll is None while running, stop,
then poll is an integer again; progress events carry an integer and a string and serialise to JSON."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

import yaml

from jupyternetes import kube, naming
from jupyternetes.dev import components
from jupyternetes.dev.cluster import ADMIN, HUB, LocalCluster, free_port
from jupyternetes.spawner import SpawnError
from tests.spawner.mock import spawner
from tests.support.relay import Relay
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster


def _spawner(cluster: LocalCluster, user: str, **traits: Any) -> Any:
    settings: dict[str, Any] = {
        "kubeconfig": str(cluster.kubeconfig(HUB)), "namespace": cluster.config.hub_namespace,
        "template": "default-template", "template_namespace": cluster.config.template_namespace,
        "operator_public_key": str(components.sealing_keys(cluster)[1]), "start_timeout": 60}
    return spawner(user, **{**settings, **traits})


async def test_the_spawner_contract(cluster: LocalCluster, provisioning: Stack) -> None:
    s = _spawner(cluster, "conformance")
    assert isinstance(await s.poll(), int)

    events: list[dict[str, Any]] = []

    async def follow() -> None:
        async for event in s.progress():
            events.append(event)

    follower = asyncio.create_task(follow())
    url = await s.start()
    await asyncio.wait_for(follower, 10)
    assert url.startswith("http://10.244.") and url.endswith(":8888")
    assert await s.poll() is None
    assert events, "no progress events"
    for event in events:
        assert isinstance(event["progress"], int) and isinstance(event["message"], str)
    json.dumps(events)
    assert events[-1]["progress"] == 90

    state = s.get_state()
    with cluster.kube(ADMIN) as admin:
        uid = admin.get(kube.INSTANCE, "jupyter-conformance", "default")["metadata"]["uid"]
    assert state == {"instance_name": "jupyter-conformance", "instance_namespace": "default", "instance_uid": uid}
    # The hub restarts: a new spawner with the saved state finds the same running server.
    again = _spawner(cluster, "conformance")
    again.load_state(state)
    assert await again.poll() is None

    await s.stop()
    with cluster.kube(ADMIN) as admin:
        with pytest.raises(kube.NotFound):
            admin.get(kube.INSTANCE, "jupyter-conformance", "default")
    assert isinstance(await s.poll(), int)
    assert await again.poll() == 1


async def test_the_token_is_sealed_in_the_instance_and_only_opened_into_the_secret(
    cluster: LocalCluster, provisioning: Stack
) -> None:
    s = _spawner(cluster, "sealed")
    await s.start()
    try:
        with cluster.kube(HUB) as hub:
            instance = hub.get(kube.INSTANCE, "jupyter-sealed", "default")
        assert "t0ken-for-tests" not in json.dumps(instance)
        with cluster.kube(ADMIN) as admin:
            secret = admin.get(kube.SECRET, naming.object_name("jupyter-sealed", "secret"), "default")
            pod = admin.get(kube.POD, instance["status"]["pods"]["notebook"]["resourceName"], "default")
        assert base64.b64decode(secret["data"]["JUPYTERHUB_API_TOKEN"]).decode() == "t0ken-for-tests"
        assert secret["metadata"]["ownerReferences"][0]["uid"] == instance["metadata"]["uid"]
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["JPY_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "jupyterhub.api_token"
        assert "t0ken-for-tests" not in json.dumps(pod)
        with cluster.kube(HUB) as hub, pytest.raises(kube.Forbidden):
            hub.get(kube.SECRET, secret["metadata"]["name"], "default")
    finally:
        await s.stop()


async def test_named_servers_get_their_own_instances(cluster: LocalCluster, provisioning: Stack) -> None:
    default, named = _spawner(cluster, "multi"), _spawner(cluster, "multi", server_name="gpu")
    urls = await asyncio.gather(default.start(), named.start())
    try:
        assert urls[0] != urls[1]
        assert (default.instance_name, named.instance_name) == ("jupyter-multi", "jupyter-multi--gpu")
    finally:
        await asyncio.gather(default.stop(), named.stop())


async def test_a_policy_denial_reaches_the_user_as_a_sentence(cluster: LocalCluster, provisioning: Stack) -> None:
    s = _spawner(cluster, "denied", variables={"image.override": "docker.io/evil/miner"})
    with pytest.raises(SpawnError) as refused:
        await s.start()
    message = refused.value.jupyterhub_message  # type: ignore[attr-defined]
    assert message.startswith("Your server could not start:")
    assert 'variable "image.override" is neither used by the template nor defined by the spawner' in message


async def test_a_missing_template_is_reported_not_waited_for(cluster: LocalCluster, provisioning: Stack) -> None:
    s = _spawner(cluster, "late", template="no-such-template")
    with pytest.raises(SpawnError) as failed:
        await s.start()
    message = failed.value.jupyterhub_message  # type: ignore[attr-defined]
    assert "template kadense/no-such-template does not exist" in message and "(rule template-missing)" in message
    await s.stop()


@pytest.mark.parametrize("holder", ["another user", "the same name with another user id"])
async def test_an_instance_held_by_another_users_server_is_never_replaced(cluster: LocalCluster,
                                                                          provisioning: Stack, holder: str) -> None:
    """A leftover of this very server is replaced on start; one whose variables name another user (or a user of the
    same name with another id: deleted and made again) is refused, and left as it is, also by the stop JupyterHub
    sends after a failed start (so a name collision can never hand one user another's server or workspace)."""
    name = naming.instance_name("mallory")
    squatter = _spawner(cluster, "victim" if holder == "another user" else "mallory").build_instance(name, "default")
    squatter["spec"]["variables"]["jupyterhub.user.id"] = "424242"
    with cluster.kube(HUB) as hub:
        created = hub.create(squatter)
        try:
            s = _spawner(cluster, "mallory")
            with pytest.raises(SpawnError) as refused:
                await s.start()
            message = refused.value.jupyterhub_message  # type: ignore[attr-defined]
            assert f"its name, {name}, is held by another user's server" in message
            await s.stop()  # what JupyterHub does after a failed start: it must not touch the other instance
            assert hub.get(kube.INSTANCE, name, "default")["metadata"]["uid"] == created["metadata"]["uid"]
        finally:
            hub.delete(kube.INSTANCE, name, "default")


async def test_a_hub_with_more_rbac_than_it_needs_is_refused_until_it_is_narrowed(
    cluster: LocalCluster, provisioning: Stack
) -> None:
    """Zero to JupyterHub's default RBAC lets the hub read Secrets: no admission control sees a read, so the spawner
    asks the API server what the hub may do, and refuses to start servers while it may read them."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "z2jh-like-hub", "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "z2jh-like-hub", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "z2jh-like-hub"},
               "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": cluster.config.hub_namespace}]}
    rbac_types = {"Role": kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "Role")],
                  "RoleBinding": kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "RoleBinding")]}
    first = _spawner(cluster, "narrow-first", privileges_recheck_seconds=0)
    await first.start()  # found narrow: remembered, but asked again at once (0 s) on the next start
    await first.stop()
    with cluster.kube(ADMIN) as admin:
        admin.create(role)
        admin.create(binding)
        try:
            s = _spawner(cluster, "wide", privileges_recheck_seconds=0)
            with pytest.raises(SpawnError) as refused:
                await s.start()
            assert "more Kubernetes permissions than it may safely hold" in \
                refused.value.jupyterhub_message  # type: ignore[attr-defined]
            assert not admin.exists(kube.INSTANCE, naming.instance_name("wide"), "default")
        finally:
            for obj in (binding, role):
                admin.delete(rbac_types[obj["kind"]], obj["metadata"]["name"], "default")
    narrowed = _spawner(cluster, "wide", privileges_recheck_seconds=0)
    await narrowed.start()
    await narrowed.stop()


async def test_a_start_waits_out_an_api_server_it_cannot_reach_for_a_moment(
    cluster: LocalCluster, provisioning: Stack, tmp_path: Path
) -> None:
    """Found by 10,000 users through JupyterHub: one failed read of the hub's permissions (shared by every start
    waiting on it) refused hundreds of starts at once. The reads a start depends on, and the create, are now asked
    again for `api_retry_seconds`. Here the hub's API server address answers nothing for its first 1.5 s; a start
    made then (its entitlements and permissions never read before, at that address) waits, and succeeds."""
    document = yaml.safe_load(cluster.kubeconfig(HUB).read_text())
    relay = Relay(document["clusters"][0]["cluster"]["server"])
    listen = free_port()
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{listen}"
    kubeconfig = tmp_path / "kubeconfig-hub-late"
    kubeconfig.write_text(yaml.safe_dump(document))

    async def open_later() -> Relay:
        await asyncio.sleep(1.5)
        await relay.start(listen)
        return relay

    late = asyncio.ensure_future(open_later())
    s = _spawner(cluster, "late-api", kubeconfig=str(kubeconfig))
    try:
        url = await s.start()
        assert url.startswith("http://")
        assert late.done()  # the start was made before anything answered at that address
        await s.stop()
    finally:
        (await late).close()
        await s._api().aclose()


async def test_with_no_retries_an_api_server_it_cannot_reach_refuses_the_start_at_once(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    document = yaml.safe_load(cluster.kubeconfig(HUB).read_text())
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    kubeconfig = tmp_path / "kubeconfig-hub-nowhere"
    kubeconfig.write_text(yaml.safe_dump(document))
    s = _spawner(cluster, "no-api", kubeconfig=str(kubeconfig), api_retry_seconds=0)
    try:
        with pytest.raises(SpawnError) as refused:
            await s.start()
        assert "cannot tell which servers you may start" in refused.value.jupyterhub_message  # type: ignore[attr-defined]
    finally:
        await s._api().aclose()


async def test_a_create_whose_answer_was_lost_is_kept_when_the_start_asks_again(
    cluster: LocalCluster, provisioning: Stack
) -> None:
    """Found by a review: a create asked again after its answer was lost met its own first try as a Conflict, and
    the spawner deleted that instance (and its pod) and made it again. The retry now keeps an instance whose spec is
    the one this start sent: the API server stores the spec as sent (nothing defaulted into it), and a start's sealed
    values are its own, so another start's instance of the same server never looks like its first try."""
    s = _spawner(cluster, "lost-answer")
    api = s._api()
    name = naming.instance_name(s.user.name, s.name or "", s.name_prefix)
    profile = await s.entitled_profile()
    body = s.build_instance(name, s.namespace, profile, s.groups_to_send(await s._entitlement_rules()))
    created = await api.create(body)
    try:
        kept = await s._own_first_try(api, name, s.namespace, body)
        assert kept is not None and kept["metadata"]["uid"] == created["metadata"]["uid"]
        another = s.build_instance(name, s.namespace, profile, s.groups_to_send(await s._entitlement_rules()))
        assert another["spec"]["variables"] == body["spec"]["variables"]
        assert await s._own_first_try(api, name, s.namespace, another) is None
    finally:
        s.instance_name, s.instance_namespace = name, s.namespace
        await s.stop()  # (the client is the hub's shared one, kept open for the other tests)


async def test_a_start_cancelled_while_its_create_is_in_flight_leaves_nothing_behind(
    cluster: LocalCluster, provisioning: Stack, tmp_path: Path
) -> None:
    """Found by a review: JupyterHub cancels a start that outlives its start_timeout. A start cancelled after its
    create reached the API server, but before the answer came back, had not yet taken the instance as its own, so
    `poll` said "not running", JupyterHub never called `stop`, and the instance and its pod stayed. Here every answer
    from the API server is held 3 s, and the start is cancelled 1 s after it began: JupyterHub's clean-up (poll, then
    stop, at once) removes the instance. `poll` waits for the create, which runs on, and asks the API server rather
    than the watch, which has not seen the instance yet."""
    document = yaml.safe_load(cluster.kubeconfig(HUB).read_text())
    relay = Relay(document["clusters"][0]["cluster"]["server"])
    document["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{await relay.start()}"
    kubeconfig = tmp_path / "kubeconfig-hub-slow"
    kubeconfig.write_text(yaml.safe_dump(document))
    s = _spawner(cluster, "cancelled", kubeconfig=str(kubeconfig))
    try:
        await s.start()  # the hub's permissions and entitlements are read, and its watch is open
        await s.stop()
        relay.delay = 3.0
        starting = asyncio.ensure_future(s.start())
        await asyncio.sleep(1.0)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        relay.delay = 0.0
        # What JupyterHub does after a start that failed or was cancelled (User.stop).
        assert await s.poll() is None
        with cluster.kube(ADMIN) as admin:
            admin.get(kube.INSTANCE, "jupyter-cancelled", "default")  # the create did reach the API server
        await s.stop()
        with cluster.kube(ADMIN) as admin:
            with pytest.raises(kube.NotFound):
                admin.get(kube.INSTANCE, "jupyter-cancelled", "default")
    finally:
        relay.close()
        await s._api().aclose()
