"""Notebook network isolation as objects (`jupyternetes.network`, pure): what the isolation policy lets in and out,
one policy per named destination, and policy data that would widen egress by mistake refused with its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import network
from jupyternetes.webhook import policy

MIRROR: dict[str, Any] = {"description": "the PyPI mirror", "to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
                          "ports": [{"port": 443}]}


def _notebooks(**destinations: Any) -> network.NotebookNetwork:
    return network.NotebookNetwork(ingress_from=network.z2jh_peers("jupyterhub", "proxy", "hub"),
                                   hub_peers=network.z2jh_peers("jupyterhub", "hub"), destinations=destinations)


class TestIsolation:
    def test_every_pod_the_operator_makes_is_selected_for_ingress_and_egress(self) -> None:
        [isolation] = _notebooks().policies("users")
        assert isolation["metadata"] == {"name": "jupyternetes-notebooks", "namespace": "users", "labels": {}}
        assert isolation["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/managed-by": "jupyternetes"}}
        assert isolation["spec"]["policyTypes"] == ["Ingress", "Egress"]

    def test_only_the_proxy_and_the_hub_may_connect(self) -> None:
        [isolation] = _notebooks().policies("users")
        [rule] = isolation["spec"]["ingress"]
        assert [peer["podSelector"]["matchLabels"]["component"] for peer in rule["from"]] == ["proxy", "hub"]
        assert all(peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "jupyterhub"}}
                   for peer in rule["from"])

    def test_out_only_to_the_hubs_api_and_the_clusters_dns(self) -> None:
        [isolation] = _notebooks().policies("users")
        hub, dns = isolation["spec"]["egress"]
        assert hub == {"to": network.z2jh_peers("jupyterhub", "hub"), "ports": [{"port": 8081, "protocol": "TCP"}]}
        assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                              "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
        assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
        # No peer is an ipBlock: nothing outside the cluster, the metadata address included, and not the API server.
        assert not any("ipBlock" in peer for rule in isolation["spec"]["egress"] for peer in rule["to"])

    def test_without_dns_there_is_no_dns_rule(self) -> None:
        notebooks = network.NotebookNetwork(ingress_from=[], hub_peers=network.z2jh_peers("hub-ns", "hub"),
                                            dns_peers=[])
        assert len(notebooks.policies("users")[0]["spec"]["egress"]) == 1


class TestDestinations:
    def test_each_destination_widens_egress_only_for_pods_with_its_label(self) -> None:
        isolation, mirror = _notebooks(mirror=MIRROR).policies("users", {"app.kubernetes.io/part-of": "jupyternetes"})
        assert isolation["metadata"]["labels"] == {"app.kubernetes.io/part-of": "jupyternetes"}
        assert mirror["metadata"]["name"] == "jupyternetes-egress-mirror"
        assert mirror["spec"] == {
            "podSelector": {"matchLabels": {"app.kubernetes.io/managed-by": "jupyternetes",
                                            "jupyternetes.kadense.io/egress-mirror": "true"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"port": 443, "protocol": "TCP"}]}]}

    @pytest.mark.parametrize(("destinations", "words"), [
        ({"Mirror": MIRROR}, "network.destinations.Mirror: a destination's name must be lower-case"),
        ({"x" * 57: MIRROR}, "at most 56 characters"),
        ({"mirror": {**MIRROR, "to": []}}, "network.destinations.mirror.to: list at least one peer"),
        ({"mirror": {**MIRROR, "ports": []}}, "network.destinations.mirror.ports: list at least one port"),
        ({"mirror": {**MIRROR, "to": [{"podSelector": {"matchLabels": {"app": "x"}}}]}},
         "mirror.to[0]: a podSelector alone means pods in the notebook's own namespace"),
        ({"mirror": {**MIRROR, "to": [{"namespaceSelector": {}}]}},
         "mirror.to[0].namespaceSelector: an empty selector matches everything"),
        ({"mirror": {**MIRROR, "to": [{"ipBlock": {"cidr": "10.20.0.1/24"}}]}}, "has host bits set"),
        ({"mirror": {**MIRROR, "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {"matchLabels": {}}}]}},
         "ipBlock cannot be combined with a selector"),
        ({"mirror": {**MIRROR, "ports": [{"port": "https"}]}}, "named ports are not judged"),
        ({"mirror": {**MIRROR, "ports": [{"port": 443, "protocol": "ICMP"}]}}, "protocol: use one of TCP, UDP, SCTP"),
        ({"mirror": {**MIRROR, "ports": [{"port": 443, "endPort": 80}]}}, "endPort: must be a number from port"),
        ({"mirror": {**MIRROR, "egress": []}}, "unknown field(s) egress"),
        (["mirror"], "network.destinations: must be a mapping"),
    ])
    def test_a_destination_that_would_widen_egress_by_mistake_is_refused_with_its_path(
        self, destinations: Any, words: str,
    ) -> None:
        problems = network.destination_problems(destinations)
        assert any(words in problem for problem in problems), problems
        with pytest.raises(ValueError, match="network.destinations"):
            network.NotebookNetwork(ingress_from=[], hub_peers=[], destinations=destinations).policies("users")

    def test_the_webhook_refuses_to_start_on_such_policy_data(self, tmp_path: Path) -> None:
        (tmp_path / "data.yaml").write_text(yaml.safe_dump({"jupyternetes": {"config": {"network": {
            "destinations": {"mirror": {**MIRROR, "to": []}}}}}}))
        with pytest.raises(ValueError, match=r"data.yaml: network.destinations.mirror.to: list should have at least 1"):
            policy.load_data(tmp_path)

    def test_the_shipped_data_names_no_destination(self) -> None:
        shipped = policy.load_data(Path(__file__).resolve().parents[2] / "policies")
        assert shipped.config["network"] == {"destinations": {}}
        assert shipped.mode("network") == "enforce"
