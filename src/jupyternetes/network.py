"""Notebook network isolation: the NetworkPolicies for a namespace where notebooks run, and the officers' named
egress destinations (policy data `network.destinations`).

Every pod the operator makes carries `app.kubernetes.io/managed-by: jupyternetes`, which only the operator may set or
remove (the chart's admission policies). One policy per namespace selects those pods and allows only:
- in: connections from the pods that serve notebooks (JupyterHub's proxy and hub);
- out: DNS and the hub's API.
A destination named in policy data gets a policy of its own that adds egress to it, for the pods whose template gives
them the label `jupyternetes.kadense.io/egress-<name>: "true"`; the `network` policy refuses that label for any other
name. Templates cannot make NetworkPolicies themselves, so nothing else widens a notebook's egress.

The chart renders the same objects (`charts/jupyternetes/templates/notebooks/networkpolicies.yaml`; a test holds
the two equal); `dev up` applies them from here. This module is pure: it validates and builds, it calls no API.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from jupyternetes import constants

#: The label on a pod that asks for egress to a named destination: the prefix and the destination's name.
EGRESS_LABEL_PREFIX: Final = constants.LABEL_PREFIX + "egress-"
#: The policy that isolates every notebook in a namespace.
ISOLATION_POLICY: Final = "jupyternetes-notebooks"
#: Destination policies are named this, plus the destination's name.
DESTINATION_POLICY_PREFIX: Final = "jupyternetes-egress-"

_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Label names are at most 63 characters: what is left after "egress-".
MAX_DESTINATION_NAME: Final = 63 - len("egress-")
_PEER_KEYS: Final = frozenset({"ipBlock", "namespaceSelector", "podSelector"})
_SELECTOR_KEYS: Final = frozenset({"matchLabels", "matchExpressions"})
_PROTOCOLS: Final = ("TCP", "UDP", "SCTP")

#: The hub's API port, as Zero to JupyterHub runs it.
DEFAULT_HUB_PORTS: Final = ({"port": 8081, "protocol": "TCP"},)
#: The cluster's DNS, as kubeadm (and most distributions) label it.
DEFAULT_DNS_PEERS: Final = ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                             "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},)
DNS_PORTS: Final = ({"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"})


def z2jh_peers(hub_namespace: str, *components: str) -> list[dict[str, Any]]:
    """NetworkPolicy peers for Zero to JupyterHub's pods of `components` (hub, proxy) in `hub_namespace`."""
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": hub_namespace}},
             "podSelector": {"matchLabels": {"app": "jupyterhub", "component": component}}} for component in components]


def egress_label(destination: str) -> str:
    return EGRESS_LABEL_PREFIX + destination


def destination_problems(destinations: Any, path: str = "network.destinations") -> list[str]:
    """Every way `destinations` (policy data) is not a mapping of valid named destinations, with its path."""
    if destinations is None:
        return []
    if not isinstance(destinations, Mapping):
        return [f"{path}: must be a mapping of destination name to {{to: [...], ports: [...]}}, not "
                f"{type(destinations).__name__}"]
    problems: list[str] = []
    for name, destination in destinations.items():
        where = f"{path}.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_DESTINATION_NAME:
            problems.append(f"{where}: a destination's name must be lower-case letters, digits and '-', at most "
                            f"{MAX_DESTINATION_NAME} characters (it becomes the label {EGRESS_LABEL_PREFIX}<name>)")
            continue
        if not isinstance(destination, Mapping):
            problems.append(f"{where}: must be a mapping with `to` and `ports`")
            continue
        unknown = set(destination) - {"to", "ports", "description"}
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; a destination has "
                            "`to`, `ports` and an optional `description`")
        problems += _peers_problems(destination.get("to"), f"{where}.to")
        problems += ports_problems(destination.get("ports"), f"{where}.ports")
    return problems


def _peers_problems(peers: Any, path: str) -> list[str]:
    if not isinstance(peers, list) or not peers:
        return [f"{path}: list at least one peer (ipBlock, or namespaceSelector and/or podSelector); an empty list "
                "would mean every address"]
    problems: list[str] = []
    for index, peer in enumerate(peers):
        where = f"{path}[{index}]"
        if not isinstance(peer, Mapping) or not peer or set(peer) - _PEER_KEYS:
            problems.append(f"{where}: a peer is ipBlock, or namespaceSelector and/or podSelector (as in a "
                            "NetworkPolicy)")
            continue
        if "ipBlock" in peer:
            if len(peer) > 1:
                problems.append(f"{where}: ipBlock cannot be combined with a selector in one peer")
            problems += _ip_block_problems(peer["ipBlock"], f"{where}.ipBlock")
        for key in ("namespaceSelector", "podSelector"):
            if key in peer:
                problems += _selector_problems(peer[key], f"{where}.{key}")
        if "podSelector" in peer and "namespaceSelector" not in peer:
            problems.append(f"{where}: a podSelector alone means pods in the notebook's own namespace, that is, "
                            "other users' notebooks; add a namespaceSelector for the destination's namespace")
    return problems


def _ip_block_problems(block: Any, path: str) -> list[str]:
    if not isinstance(block, Mapping) or set(block) - {"cidr", "except"} or "cidr" not in block:
        return [f"{path}: an ipBlock is {{cidr: ..., except: [...]}}"]
    problems: list[str] = []
    for where, value in [(f"{path}.cidr", block["cidr"]),
                         *[(f"{path}.except[{i}]", v) for i, v in enumerate(block.get("except") or [])]]:
        try:
            ipaddress.ip_network(str(value), strict=True)
        except ValueError as error:
            problems.append(f"{where}: {value!r} is not a network in CIDR notation ({error})")
    return problems


def _selector_problems(selector: Any, path: str) -> list[str]:
    if not isinstance(selector, Mapping) or set(selector) - _SELECTOR_KEYS:
        return [f"{path}: a label selector has matchLabels and/or matchExpressions"]
    if not selector:
        return [f"{path}: an empty selector matches everything; name the labels of the destination"]
    return []


def ports_problems(ports: Any, path: str) -> list[str]:
    if not isinstance(ports, list) or not ports:
        return [f"{path}: list at least one port; no ports would mean every port"]
    problems: list[str] = []
    for index, port in enumerate(ports):
        where = f"{path}[{index}]"
        if not isinstance(port, Mapping) or set(port) - {"port", "protocol", "endPort"}:
            problems.append(f"{where}: a port is {{port: <number>, protocol: TCP|UDP|SCTP, endPort: <number>}}")
            continue
        number, end = port.get("port"), port.get("endPort")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            problems.append(f"{where}.port: give a port number from 1 to 65535 (named ports are not judged)")
        if end is not None and (not isinstance(end, int) or isinstance(end, bool) or not isinstance(number, int)
                                or not number <= end <= 65535):
            problems.append(f"{where}.endPort: must be a number from port to 65535")
        if port.get("protocol", "TCP") not in _PROTOCOLS:
            problems.append(f"{where}.protocol: use one of {', '.join(_PROTOCOLS)}")
    return problems


def _normal_port(port: Mapping[str, Any]) -> dict[str, Any]:
    normal: dict[str, Any] = {"port": port["port"], "protocol": port.get("protocol", "TCP")}
    if port.get("endPort") is not None:
        normal["endPort"] = port["endPort"]
    return normal


@dataclass(frozen=True)
class NotebookNetwork:
    """Who may connect to notebooks, and what notebooks may reach, in one namespace."""

    #: Peers that may connect to a notebook: the proxy and the hub (`z2jh_peers`).
    ingress_from: Sequence[Mapping[str, Any]]
    #: The hub's API: its peers and ports.
    hub_peers: Sequence[Mapping[str, Any]]
    hub_ports: Sequence[Mapping[str, Any]] = DEFAULT_HUB_PORTS
    #: The cluster's DNS (port 53, UDP and TCP); empty: no DNS.
    dns_peers: Sequence[Mapping[str, Any]] = DEFAULT_DNS_PEERS
    #: Policy data's `network.destinations`.
    destinations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def policies(self, namespace: str, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The isolation policy and one policy per destination, for `namespace`. Raises ValueError on bad
        destinations."""
        problems = destination_problems(self.destinations)
        if problems:
            raise ValueError("; ".join(problems))
        notebooks = {constants.LABEL_MANAGED_BY: constants.MANAGED_BY}
        egress: list[dict[str, Any]] = [{"to": [dict(p) for p in self.hub_peers],
                                         "ports": [_normal_port(p) for p in self.hub_ports]}]
        if self.dns_peers:
            egress.append({"to": [dict(p) for p in self.dns_peers], "ports": [dict(p) for p in DNS_PORTS]})
        found = [_policy(ISOLATION_POLICY, namespace, labels, {
            "podSelector": {"matchLabels": notebooks},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [dict(p) for p in self.ingress_from]}],
            "egress": egress,
        })]
        for name in sorted(self.destinations):
            destination = self.destinations[name]
            found.append(_policy(DESTINATION_POLICY_PREFIX + name, namespace, labels, {
                "podSelector": {"matchLabels": {**notebooks, egress_label(name): "true"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [dict(p) for p in destination["to"]],
                            "ports": [_normal_port(p) for p in destination["ports"]]}],
            }))
        return found


def _policy(name: str, namespace: str, labels: Mapping[str, str] | None, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})}, "spec": spec}
