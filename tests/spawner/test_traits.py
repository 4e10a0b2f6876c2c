"""The spawner's configuration: every trait is documented with a paste-ready line, and the defaults are as stated."""

from __future__ import annotations

from importlib.metadata import entry_points

from jupyternetes.spawner import JupyternetesSpawner
from tests.spawner.mock import spawner

OURS = ["kubeconfig", "namespace", "hub_namespace", "template", "template_namespace", "profile_list", "variables",
        "name_prefix", "operator_public_key", "sealed_env", "refuse_wide_rbac", "server_networks",
        "privileges_recheck_seconds", "api_retry_seconds"]


def test_registered_under_the_jupyterhub_spawners_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="jupyterhub.spawners") if e.name == "jupyternetes"]
    assert entry.load() is JupyternetesSpawner


def test_every_option_is_configurable_and_documented_with_a_paste_ready_line() -> None:
    traits = JupyternetesSpawner.class_traits(config=True)
    for name in OURS:
        assert name in traits, name
        assert f"c.JupyternetesSpawner.{name} = " in traits[name].help, f"{name}: no example in its help"


def test_defaults() -> None:
    s = spawner()
    assert s.kubeconfig == ""
    assert s.namespace == "default"  # outside a pod
    assert s.hub_namespace == "default"
    assert s.template == "default-template"
    assert s.template_namespace == ""
    assert s.profile_list == []
    assert s.options_form == ""
    assert s.variables == {}
    assert s.name_prefix == "jupyter"
    assert s.operator_public_key == ""
    assert s.sealed_env == ["JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"]
    assert s.refuse_wide_rbac is True
    assert s.server_networks == []
    assert s.privileges_recheck_seconds == 60.0
    assert s.api_retry_seconds == 30.0
