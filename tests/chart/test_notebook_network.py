"""The chart's notebook NetworkPolicies, rendered offline: in every namespace where notebooks run, equal to what
`jupyternetes.network` builds (and `dev up` applies), with the officers' destinations from the policy data, and a
destination that would widen egress by mistake refused at install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import network
from tests.support import helm

MIRROR: dict[str, Any] = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mirror"}},
                                  "podSelector": {"matchLabels": {"app": "devpi"}}}],
                          "ports": [{"port": 3141, "protocol": "TCP"}, {"port": 8000, "endPort": 8010}]}


def _notebook_policies(manifests: list[dict[str, Any]]) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {key: policy for key, policy in helm.by_kind(manifests, "NetworkPolicy").items()
            if key[1].startswith(("jupyternetes-notebooks", "jupyternetes-egress-"))}


def _expected(namespace: str, hub_namespace: str, **destinations: Any) -> dict[tuple[str, str], dict[str, Any]]:
    made = network.NotebookNetwork(ingress_from=network.z2jh_peers(hub_namespace, "proxy", "hub"),
                                   hub_peers=network.z2jh_peers(hub_namespace, "hub"),
                                   destinations=destinations).policies(namespace)
    return {(namespace, policy["metadata"]["name"]): policy["spec"] for policy in made}


def test_by_default_the_hubs_namespace_is_isolated_as_the_code_says() -> None:
    policies = _notebook_policies(helm.rendered())
    assert {key: policy["spec"] for key, policy in policies.items()} == _expected("jupyterhub", "jupyterhub")


def test_every_namespace_the_operator_serves_is_isolated() -> None:
    policies = _notebook_policies(helm.rendered("ci/namespaced-values.yaml"))
    assert {key: policy["spec"] for key, policy in policies.items()} == {
        **_expected("research-hub", "research-hub"), **_expected("research-users", "research-hub")}


def test_each_destination_in_the_policy_data_gets_its_policy_in_every_namespace(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"hub": {"instanceNamespace": "users"},
                                      "webhook": {"policyData": {"network": {"destinations": {"devpi": MIRROR}}}}}))
    manifests = helm.rendered(str(values))
    policies = _notebook_policies(manifests)
    assert {key: policy["spec"] for key, policy in policies.items()} == _expected("users", "jupyterhub", devpi=MIRROR)
    # The webhook's policy data (and so the `network` policy) names the same destination.
    config = helm.by_kind(manifests, "ConfigMap")[("jupyternetes", "jupyternetes-webhook-policies")]
    assert yaml.safe_load(config["data"]["data.yaml"])["jupyternetes"]["config"]["network"]["destinations"] == \
        {"devpi": MIRROR}


def test_isolation_can_be_turned_off_and_given_other_peers(tmp_path: Path) -> None:
    assert _notebook_policies(helm.rendered(networkPolicies__notebooks__enabled="false")) == {}
    values = tmp_path / "values.yaml"
    peers = [{"ipBlock": {"cidr": "10.1.2.3/32"}}]
    values.write_text(yaml.safe_dump({"networkPolicies": {"notebooks": {
        "ingressFrom": peers, "hub": {"peers": peers, "ports": [{"port": 8081}]}, "dns": {"enabled": False}}}}))
    [policy] = _notebook_policies(helm.rendered(str(values))).values()
    assert policy["spec"]["ingress"] == [{"from": peers}]
    assert policy["spec"]["egress"] == [{"to": peers, "ports": [{"port": 8081, "protocol": "TCP"}]}]


def test_a_destination_that_would_widen_egress_by_mistake_fails_the_install(tmp_path: Path) -> None:
    for destination, words in (
        ({**MIRROR, "to": [{"podSelector": {"matchLabels": {"app": "devpi"}}}]},
         "network.destinations.devpi: a podSelector alone means pods in the notebooks' own namespace"),
        ({**MIRROR, "to": []}, "to"),
        ({**MIRROR, "ports": []}, "ports"),
    ):
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump({"webhook": {"policyData": {"network": {"destinations": {
            "devpi": destination}}}}}))
        done = helm.template(str(values))
        assert done.returncode != 0 and words in done.stderr, done.stderr
    values.write_text(yaml.safe_dump({"webhook": {"policyData": {"network": {"destinations": {"Dev_Pi": MIRROR}}}}}))
    done = helm.template(str(values))
    assert done.returncode != 0 and "Dev_Pi" in done.stderr, done.stderr


@pytest.mark.parametrize(("values", "words"), [
    ({"networkPolicies": {"notebooks": {"ingressFrom": [{"podSelector": {}}]}}},
     "networkPolicies.notebooks.ingressFrom: an empty selector matches every pod"),
    ({"networkPolicies": {"notebooks": {"dns": {"peers": [{"namespaceSelector": {}}]}}}},
     "networkPolicies.notebooks.dns.peers: an empty selector"),
    ({"operator": {"namespaces": ["jupyterhub", "other"]},
      "networkPolicies": {"notebooks": {"namespaces": ["jupyterhub"]}}},
     "networkPolicies.notebooks.namespaces leaves out other, where the operator runs notebooks"),
    ({"webhook": {"policyData": {"network": {"destinations": {"all": {
        "to": [{"namespaceSelector": {}}], "ports": [{"port": 1}]}}}}}},
     "network.destinations.all: an empty selector matches every pod"),
    ({"templates": {"default": {"podLabels": {"hub.jupyter.org/network-access-singleuser": "true"}}}},
     "templates.default.podLabels: hub.jupyter.org/network-access-singleuser=true is a label the policy data forbids"),
    ({"templates": {"default": {"z2jhRelease": "jhub", "podLabels": {"component": "notebook"}}}},
     "templates.default.podLabels: component is set by templates.default.z2jhRelease"),
])
def test_values_that_would_leave_notebooks_open_fail_the_install(
    tmp_path: Path, values: dict[str, Any], words: str,
) -> None:
    file = tmp_path / "values.yaml"
    file.write_text(yaml.safe_dump(values))
    done = helm.template(str(file))
    assert done.returncode != 0 and words in done.stderr, done.stderr


def test_the_hubs_ports_keep_their_range(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"networkPolicies": {"notebooks": {"hub": {"ports": [
        {"port": 8081, "endPort": 8089}]}}}}))
    [policy] = _notebook_policies(helm.rendered(str(values))).values()
    assert policy["spec"]["egress"][0]["ports"] == [{"port": 8081, "protocol": "TCP", "endPort": 8089}]
