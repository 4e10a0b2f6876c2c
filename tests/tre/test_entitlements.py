"""Entitlements: who may use which template. The webhook decides on every instance the hub creates, by the user and
groups the hub reports; nobody but the hub creates instances; and the spawner offers each user only what they are
entitled to, from the ConfigMap the webhook's policy data is published in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from tornado import web

from jupyternetes import entitlements, kube
from jupyternetes.dev import components
from jupyternetes.dev.cluster import LocalCluster
from jupyternetes.spawner import SpawnError
from tests.security.drills import refused_by, unique
from tests.spawner.mock import spawner
from tests.tre.conftest import TRE_DATA, instance, store, template

RULES = TRE_DATA["entitlements"]["rules"]

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module", autouse=True)
def templates(officer: kube.Kube) -> None:
    for name in ("tre-open", "tre-gpu-v100", "tre-gpu-a100", "tre-unlisted"):
        store(officer, template(name))


def _create(hub: kube.Kube, name: str, template_name: str, user: str, groups: str) -> dict[str, Any]:
    return hub.create(instance(unique(name), template_name, user, groups), dryRun="All")


@pytest.mark.parametrize(("template_name", "user", "groups"), [
    ("tre-open", "mallory", "[]"),
    ("tre-gpu-v100", "grace", '["gpu-researchers"]'),
    ("tre-gpu-a100", "ada", "[]"),
])
def test_the_hub_starts_what_a_user_is_entitled_to(hub: kube.Kube, template_name: str, user: str,
                                                     groups: str) -> None:
    assert _create(hub, "entitled", template_name, user, groups)["spec"]["template"]["name"] == template_name


def test_a_user_outside_the_groups_is_refused_with_a_message_the_hub_shows(hub: kube.Kube) -> None:
    with pytest.raises(kube.Forbidden) as refused:
        _create(hub, "unentitled", "tre-gpu-v100", "mallory", '["stats101"]')
    assert refused_by(refused.value.message) == "webhook:instances.validate.jupyternetes.kadense.io"
    assert ('"mallory" is not entitled to template kadense/tre-gpu-v100 (groups: "stats101")'
            in refused.value.message), refused.value.message
    assert "ask a security officer for access" in refused.value.message


def test_a_template_no_rule_names_is_refused_to_everyone(hub: kube.Kube) -> None:
    with pytest.raises(kube.Forbidden) as refused:
        _create(hub, "unlisted", "tre-unlisted", "ada", '["gpu-researchers"]')
    assert "template kadense/tre-unlisted is not available to anyone yet" in refused.value.message


def test_groups_that_are_not_a_list_of_names_are_refused(hub: kube.Kube) -> None:
    with pytest.raises(kube.Forbidden) as refused:
        _create(hub, "bad-groups", "tre-gpu-v100", "grace", "gpu-researchers")
    assert "the user's groups are not a JSON list of names" in refused.value.message


def test_nobody_but_the_hub_may_claim_a_users_groups(cluster: LocalCluster, officer: kube.Kube) -> None:
    """An officer (or anyone else with RBAC to create instances) is not an instance creator: only the hub asserts
    who a user is."""
    with pytest.raises(kube.ApiError) as refused:
        officer.create(instance(unique("claimed"), "tre-gpu-v100", "mallory", '["gpu-researchers"]'), dryRun="All")
    assert refused_by(refused.value.message) in ("rbac", "webhook:instances.validate.jupyternetes.kadense.io")


def test_a_breached_hub_can_claim_any_groups_as_security_md_says(hub: kube.Kube) -> None:
    """The limit of entitlements: the hub asserts the user's groups, so a hub that lies is believed."""
    assert _create(hub, "lying", "tre-gpu-v100", "mallory", '["gpu-researchers"]')


def test_the_python_rule_and_the_rego_policy_agree(hub: kube.Kube) -> None:
    """The spawner's answer (jupyternetes.entitlements) and the webhook's (policies/entitlements) for every template,
    user and group combination here."""
    cases = [(t, u, g) for t in ("tre-open", "tre-gpu-v100", "tre-gpu-a100", "tre-unlisted")
             for u in ("ada", "mallory") for g in ([], ["gpu-researchers"], ["stats101"])]
    for template_name, user, groups in cases:
        expected = entitlements.entitled(RULES, "kadense", template_name, user, groups)
        try:
            _create(hub, "agree", template_name, user, str(groups).replace("'", '"'))
            admitted = True
        except kube.Forbidden:
            admitted = False
        assert admitted == expected, (template_name, user, groups)


def _hub_spawner(cluster: LocalCluster, user: str, groups: list[str], **traits: Any) -> Any:
    made = spawner(user, kubeconfig=str(cluster.kubeconfig("hub")), namespace="default",
                   operator_public_key=str(components.sealing_keys(cluster)[1]), **traits)
    made.user.groups = [SimpleNamespace(name=group) for group in groups]
    return made


PROFILES = [
    {"display_name": "Open", "slug": "open", "template": "tre-open", "template_namespace": "kadense"},
    {"display_name": "GPU", "slug": "gpu", "template": "tre-gpu-v100", "template_namespace": "kadense"},
    {"display_name": "Secret", "slug": "secret", "template": "tre-unlisted", "template_namespace": "kadense"},
]


async def test_the_spawn_page_offers_only_the_profiles_a_user_is_entitled_to(cluster: LocalCluster) -> None:
    grace = _hub_spawner(cluster, "grace", ["gpu-researchers"], profile_list=PROFILES)
    mallory = _hub_spawner(cluster, "mallory", ["stats101"], profile_list=PROFILES)
    assert [p["slug"] for p in await grace.entitled_profiles()] == ["open", "gpu"]
    assert [p["slug"] for p in await mallory.entitled_profiles()] == ["open"]
    form = await mallory.get_options_form()
    assert 'value="open"' in form and 'value="gpu"' not in form and 'value="secret"' not in form


async def test_user_options_for_a_profile_the_user_is_not_entitled_to_are_refused_before_anything_is_made(
    cluster: LocalCluster, hub: kube.Kube
) -> None:
    mallory = _hub_spawner(cluster, "mallory", ["stats101"], profile_list=PROFILES)
    for options, words in (({"profile": "gpu"}, "not entitled to the profile 'gpu'"),
                           ({"profile": "gpu", "image": "evil"}, "unknown server options ['image']"),
                           ({"profile": ["gpu"]}, "the profile must be a name")):
        mallory.user_options = options
        with pytest.raises(web.HTTPError) as refused:
            await mallory._run_apply_user_options(options)
        assert refused.value.status_code == 400 and words in str(refused.value.log_message), refused.value
    mallory.user_options = {"profile": "open"}
    await mallory._run_apply_user_options(mallory.user_options)
    assert not hub.list(kube.INSTANCE, "default", labelSelector="hub.jupyter.org/username=mallory")["items"]


def test_the_instance_carries_the_users_groups_sealed_into_the_binding(cluster: LocalCluster) -> None:
    grace = _hub_spawner(cluster, "grace", ["gpu-researchers", "art"], profile_list=PROFILES)
    body = grace.build_instance("jupyter-grace", "default", PROFILES[1])
    assert body["spec"]["variables"]["jupyterhub.user.groups"] == '["art", "gpu-researchers"]'


def test_only_the_groups_an_entitlement_names_are_sent(cluster: LocalCluster) -> None:
    """Found by a red team: a user in hundreds of groups exceeded the variables' length limit and could start
    nothing; only the groups the rules read travel."""
    many = _hub_spawner(cluster, "grace", [f"g{i:03d}" for i in range(300)] + ["gpu-researchers"])
    assert many.groups_to_send(RULES) == ["gpu-researchers"]
    assert len(many.groups_to_send(None)) == 301


async def test_an_entitlements_configmap_that_is_not_rules_refuses_with_a_reason_and_the_page_still_renders(
    cluster: LocalCluster, admin: kube.Kube, stack: Any
) -> None:
    """Found by a red team: anyone who may write ConfigMaps there could break the spawn page for every user (a
    string where a list belongs matched every user name's letters; a number crashed the page)."""
    from jupyternetes.dev import rbac

    body = admin.get(kube.CONFIG_MAP, rbac.ENTITLEMENTS_CONFIGMAP, "default")
    try:
        for bad in ('[{"templates": ["kadense/tre-gpu-v100"], "users": "mallory"}]', '[{"templates": [1]}]'):
            admin.apply({**body, "metadata": {"name": body["metadata"]["name"], "namespace": "default"},
                         "data": {"rules.json": bad}})
            mallory = _hub_spawner(cluster, "mallory", [], profile_list=PROFILES, entitlements_recheck_seconds=0)
            with pytest.raises(SpawnError) as refused:
                await mallory.entitled_profiles()
            assert "cannot tell which servers you may start" in refused.value.jupyterhub_message
            assert "cannot tell which servers you may start" in await mallory.get_options_form()
    finally:
        admin.apply({**body, "metadata": {"name": body["metadata"]["name"], "namespace": "default"}})
