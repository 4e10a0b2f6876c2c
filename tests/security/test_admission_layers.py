"""Defence in depth, layer by layer: every attack on the boundary runs three times against the real API server.

- with both layers, as deployed: the admission policies (CEL, inside the API server) refuse first;
- with the webhook's configurations deleted (down, unregistered or bypassed): the policies alone must refuse what
  they claim to;
- with the policies' bindings deleted: the webhook alone must refuse what it claims to.

Each attack names the layers that stop it, and each run asserts which layer refused and with which rule, so a refusal
for another reason (another layer, a layer that is down, RBAC) cannot pass. Every request is a server-side dry run:
admission runs in full, and nothing an unexpected success would create is stored.

The attackers: a breached operator (its ServiceAccount token), a breached hub given the pod and Secret rights that
Zero to JupyterHub's default RBAC would give it, and a namespace user with Kubernetes' `edit` role in the users'
namespace.
"""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from jupyternetes import constants, kube, models, naming, network, render
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import OPERATOR, LocalCluster
from tests.security.drills import IMAGE, NAMESPACE, instance, refused_by, unique
from tests.support import processes
from tests.support.stacks import Stack

pytestmark = pytest.mark.cluster

VWC = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
MWC = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]
BINDING = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")]
ROLE = kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "Role")]
ROLE_BINDING = kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "RoleBinding")]
NETWORK_POLICY = kube.KNOWN_TYPES[("networking.k8s.io/v1", "NetworkPolicy")]

OPERATOR_POLICY = "policy:jupyternetes-operator-creates-only-renderings"
HUB_POLICY = "policy:jupyternetes-hub-creates-only-instances"
OBJECTS_POLICY = "policy:jupyternetes-objects-belong-to-the-operator"
INSTANCES_POLICY = "policy:jupyternetes-instances-come-from-the-hub"
SEALING_POLICY = "policy:jupyternetes-sealing-key-is-the-operators"
ISOLATION_POLICY = "policy:jupyternetes-notebook-isolation-holds"
WORKLOADS_WEBHOOK = "webhook:workloads.validate.jupyternetes.kadense.io"
EXEMPT_WEBHOOK = "webhook:exempt-namespaces.validate.jupyternetes.kadense.io"
INSTANCES_WEBHOOK = "webhook:instances.validate.jupyternetes.kadense.io"

BOTH, POLICIES, WEBHOOK = "both layers", "policies only", "webhook only"


@dataclass
class Victim:
    """A real server: an instance the hub created and the real operator provisioned, and what it renders to."""

    instance: dict[str, Any]
    pod: dict[str, Any]
    pvc: dict[str, Any]
    secret: dict[str, Any]

    def owner(self) -> list[dict[str, Any]]:
        meta = self.instance["metadata"]
        return [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND, "name": meta["name"],
                 "uid": meta["uid"], "controller": True}]


@dataclass
class Attackers:
    operator: kube.Kube
    hub: kube.Kube  # with Zero to JupyterHub's extra rights
    user: kube.Kube  # `edit` in the users' namespace, and the status of its pods and PVCs (as a storage tool has)
    admin: kube.Kube
    victim: Victim
    planted: str  # a PVC of the user's own, without Jupyternetes' labels


@dataclass(frozen=True)
class Attack:
    """What an attacker tries, and the layer, with its message, that must refuse it in each mode."""

    name: str
    run: Callable[[Attackers], Any]
    policy: tuple[str, str] | None  # (refusing policy, words of its message), or None: the policies do not stop it
    webhook: tuple[str, str] | None  # (refusing webhook, words of its message), or None


# The attacks ------------------------------------------------------------------------------------------------------


def _rendered_secret(v: Victim, **changes: Any) -> dict[str, Any]:
    secret = copy.deepcopy(v.secret)
    secret["metadata"] = {k: secret["metadata"][k] for k in ("namespace", "labels", "annotations")}
    secret["metadata"]["name"] = unique("drill-secret")
    secret["metadata"]["ownerReferences"] = v.owner()
    secret.update(changes)
    return secret


def _with_annotation(obj: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    obj["metadata"]["annotations"] = {**obj["metadata"].get("annotations", {}), key: value}
    return obj


def _pod(v: Victim, edit: Callable[[dict[str, Any]], None] | None = None, namespace: str = NAMESPACE
         ) -> dict[str, Any]:
    pod = copy.deepcopy(v.pod)
    pod["metadata"]["name"] = unique("drill-pod")
    pod["metadata"]["namespace"] = namespace
    if edit:
        edit(pod["spec"])
    return pod


def _labelled(obj: dict[str, Any], **labels: str) -> dict[str, Any]:
    obj["metadata"]["labels"] = {**obj["metadata"]["labels"], **labels}
    return obj


def _claim(v: Victim) -> dict[str, Any]:
    claim = copy.deepcopy(v.pvc)
    claim["metadata"] = {k: claim["metadata"][k] for k in ("namespace", "labels", "annotations")}
    claim["metadata"]["name"] = unique("drill-claim")
    claim["spec"] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return claim


def _plain_pod(name: str = "drill-plain") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": unique(name), "namespace": NAMESPACE},
            "spec": {"containers": [{"name": "c", "image": IMAGE}]}}


def _network_policy(selector: dict[str, Any], **rules: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": unique("drill-open"), "namespace": NAMESPACE},
            "spec": {"podSelector": selector, "policyTypes": [{"ingress": "Ingress", "egress": "Egress"}[k]
                                                             for k in rules], **rules}}


def _create(client: kube.Kube, obj: dict[str, Any]) -> Any:
    return client.create(obj, dryRun="All")


def _patch(client: kube.Kube, rt: kube.ResourceType, name: str, patch: Any, **kwargs: Any) -> Any:
    return client.patch(rt, name, patch, NAMESPACE, dryRun="All", **kwargs)


ATTACKS = [
    # A breached operator ---------------------------------------------------------------------------------------
    Attack("operator: a service-account-token Secret, otherwise rendered",
           lambda a: _create(a.operator, _with_annotation(
               _rendered_secret(a.victim, type="kubernetes.io/service-account-token"),
               "kubernetes.io/service-account.name", "default")),
           (OPERATOR_POLICY, "may only create Secrets of type Opaque"), (WORKLOADS_WEBHOOK, "is not Opaque")),
    Attack("operator: a pod that poses as Zero to JupyterHub's proxy, so every notebook lets it in",
           lambda a: _create(a.operator, _labelled(_pod(a.victim), app="jupyterhub", component="proxy")),
           (OPERATOR_POLICY, "wearing a label the policy data forbids"), (WORKLOADS_WEBHOOK, "component")),
    Attack("operator: an Opaque Secret with a name no instance renders",
           lambda a: _create(a.operator, _rendered_secret(a.victim)),
           None, (WORKLOADS_WEBHOOK, "metadata.name: differs from the instance's Secret")),
    Attack("operator: an unlabelled Secret",
           lambda a: _create(a.operator, {"apiVersion": "v1", "kind": "Secret", "metadata": {
               "name": unique("drill-loot"), "namespace": NAMESPACE}, "stringData": {"k": "v"}}),
           (OPERATOR_POLICY, "that carry the labels"), (WORKLOADS_WEBHOOK, "rule rendered-only")),
    Attack("operator: the rendered pod in kube-system",
           lambda a: _create(a.operator, _pod(a.victim, namespace="kube-system")),
           (OPERATOR_POLICY, "may not create or change anything in namespace kube-system"),
           (EXEMPT_WEBHOOK, "never creates or changes anything in namespace kube-system")),
    Attack("operator: the rendered Secret in its own namespace",
           lambda a: _create(a.operator, {**_rendered_secret(a.victim), "metadata": {
               **_rendered_secret(a.victim)["metadata"], "namespace": "jupyternetes"}}),
           (OPERATOR_POLICY, "may not create or change anything in namespace jupyternetes"),
           (EXEMPT_WEBHOOK, "never creates or changes anything in namespace jupyternetes")),
    Attack("operator: a privileged, host-network pod dressed as the rendering",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: (
               s.update(hostNetwork=True),
               s["containers"][0].setdefault("securityContext", {}).update(privileged=True,
                                                                           allowPrivilegeEscalation=True)))),
           (OPERATOR_POLICY, "share the host's network"), (WORKLOADS_WEBHOOK, "rule floor:privileged")),
    Attack("operator: the rendering running as the hub's service account",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(serviceAccountName="hub"))),
           (OPERATOR_POLICY, "may not run as the service account of JupyterHub"),
           (WORKLOADS_WEBHOOK, "rule floor:component-identity")),
    Attack("operator: a hostPath volume",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.setdefault("volumes", []).append(
               {"name": "host", "hostPath": {"path": "/"}}))),
           (OPERATOR_POLICY, "hostPath volumes"), (WORKLOADS_WEBHOOK, "rule floor:host-path-volumes")),
    Attack("operator: a pod owned by no instance",
           lambda a: _create(a.operator, {**_pod(a.victim), "metadata": {
               **_pod(a.victim)["metadata"], "ownerReferences": []}}),
           (OPERATOR_POLICY, "exactly one owner reference"), (WORKLOADS_WEBHOOK, "metadata.ownerReferences")),
    Attack("operator: a NodePort Service for the instance",
           lambda a: _create(a.operator, {"apiVersion": "v1", "kind": "Service", "metadata": {
               "name": unique("drill-svc"), "namespace": NAMESPACE, "labels": {
                   **{k: a.victim.pod["metadata"]["labels"][k] for k in constants.INSTANCE_LABELS},
                   constants.LABEL_ENTRY_KIND: constants.ENTRY_OTHER},
               "annotations": a.victim.pod["metadata"]["annotations"], "ownerReferences": a.victim.owner()},
               "spec": {"type": "NodePort", "ports": [{"port": 8888}]}}),
           (OPERATOR_POLICY, "only create Services of type ClusterIP"), (WORKLOADS_WEBHOOK, "rule rendered-only")),
    Attack("operator: the rendering with a Kubernetes API token",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(automountServiceAccountToken=True))),
           (OPERATOR_POLICY, "without a Kubernetes API token"), (WORKLOADS_WEBHOOK, "automountServiceAccountToken")),
    # Found by a red team: with no audiences allowed (the default), the policy's list of them was [''] (a split of
    # ''), so a projected token with no audience, which is a token for the Kubernetes API, was admitted.
    Attack("operator: the rendering with a projected Kubernetes API token (no audience)",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.setdefault("volumes", []).append(
               {"name": "api-token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}))),
           (OPERATOR_POLICY, "without a Kubernetes API token"),
           (WORKLOADS_WEBHOOK, "service-account token for audience")),
    Attack("operator: the rendering as a service account with `edit`",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(serviceAccountName="drill-namespace-user"))),
           (OPERATOR_POLICY, "run as a service account in default"), (WORKLOADS_WEBHOOK, "serviceAccountName")),
    Attack("operator: the rendering pinned to a node",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(nodeName="kwok-node-0"))),
           (OPERATOR_POLICY, "not pinned to a node"), (WORKLOADS_WEBHOOK, "spec.nodeName")),
    Attack("operator: the rendering as root",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s["securityContext"].update(
               runAsNonRoot=False, runAsUser=0))),
           (OPERATOR_POLICY, "must run as non-root"), (WORKLOADS_WEBHOOK, "rule floor:run-as-user")),
    Attack("operator: the rendering without seccomp",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s["containers"][0]["securityContext"].update(
               seccompProfile={"type": "Unconfined"}))),
           (OPERATOR_POLICY, "never Unconfined"), (WORKLOADS_WEBHOOK, "rule floor:seccomp")),
    Attack("operator: a workspace cloned from another user's",
           lambda a: _create(a.operator, {**_claim(a.victim), "spec": {**_claim(a.victim)["spec"], "dataSource": {
               "kind": "PersistentVolumeClaim", "name": a.victim.pvc["metadata"]["name"]}}}),
           (OPERATOR_POLICY, "filled from another volume"), (WORKLOADS_WEBHOOK, "spec.dataSource")),
    Attack("operator: the rendering with a container that may run as root",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s["containers"][0]["securityContext"].update(
               runAsNonRoot=False))),
           (OPERATOR_POLICY, "must run as non-root"), (WORKLOADS_WEBHOOK, "rule floor:run-as-non-root")),
    Attack("operator: the rendering pinned by host name",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(
               nodeSelector={"kubernetes.io/hostname": "kwok-node-0"}))),
           (OPERATOR_POLICY, "not pinned to a node by its name"), (WORKLOADS_WEBHOOK, "spec.nodeSelector")),
    Attack("operator: the rendering tolerating every taint",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(tolerations=[{"operator": "Exists"}]))),
           (OPERATOR_POLICY, "tolerate neither every taint"), (WORKLOADS_WEBHOOK, "spec.tolerations")),
    Attack("operator: the rendering with a system priority class",
           lambda a: _create(a.operator, _pod(a.victim, lambda s: s.update(
               priorityClassName="system-cluster-critical"))),
           (OPERATOR_POLICY, "may only use the priority classes the policy allows"),
           (WORKLOADS_WEBHOOK, "spec.priorityClassName")),
    Attack("operator (given the rights): a token for the hub's service account",
           lambda a: a.operator.request(
               "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/hub/token",
               params={"dryRun": "All"}, body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                                "spec": {"expirationSeconds": 600}}),
           (OPERATOR_POLICY, "writes no subresource but instances' status"), None),
    Attack("operator (given the rights): evict a user's notebook",
           lambda a: a.operator.request(
               "POST", f"/api/v1/namespaces/{NAMESPACE}/pods/{a.victim.pod['metadata']['name']}/eviction",
               params={"dryRun": "All"}, body={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {
                   "name": a.victim.pod["metadata"]["name"], "namespace": NAMESPACE},
                   "deleteOptions": {"dryRun": ["All"]}}),
           (OPERATOR_POLICY, "writes no subresource but instances' status"), None),
    # A breached hub, with Zero to JupyterHub's pod and Secret rights ------------------------------------------
    Attack("hub: a pod", lambda a: _create(a.hub, _plain_pod()),
           (HUB_POLICY, "may only create and delete notebook instances"), None),
    Attack("hub: a Secret", lambda a: _create(a.hub, {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": unique("drill-hub-secret"), "namespace": NAMESPACE}}),
           (HUB_POLICY, "asked to CREATE secrets"), None),
    # A namespace user with `edit` ------------------------------------------------------------------------------
    Attack("user: a Secret holding the instance's Secret name and labels, owned by the instance",
           lambda a: _create(a.user, {"apiVersion": "v1", "kind": "Secret", "metadata": {
               "name": unique("drill-forged"), "namespace": NAMESPACE,
               "labels": a.victim.secret["metadata"]["labels"],
               "annotations": a.victim.secret["metadata"]["annotations"],
               "ownerReferences": a.victim.owner()}, "stringData": {"LD_PRELOAD": "/tmp/evil.so"}}),
           (OBJECTS_POLICY, "only the Jupyternetes operator may create secrets"),
           (WORKLOADS_WEBHOOK, "rule operator-only")),
    Attack("user: an unlabelled Secret owned by the instance",
           lambda a: _create(a.user, {"apiVersion": "v1", "kind": "Secret", "metadata": {
               "name": unique("drill-owned"), "namespace": NAMESPACE, "ownerReferences": a.victim.owner()}}),
           (OBJECTS_POLICY, "an owner reference to a notebook instance"), (WORKLOADS_WEBHOOK, "rule operator-only")),
    Attack("user: resize the workspace PVC past the storage policy",
           lambda a: _patch(a.user, kube.PVC, a.victim.pvc["metadata"]["name"],
                            {"spec": {"resources": {"requests": {"storage": "10Ti"}}}}),
           (OBJECTS_POLICY, "only Jupyternetes changes a Jupyternetes persistentvolumeclaims"),
           (WORKLOADS_WEBHOOK, "spec.resources")),
    Attack("user: rewrite the instance's Secret",
           lambda a: _patch(a.user, kube.SECRET, a.victim.secret["metadata"]["name"],
                            {"data": {"JUPYTERHUB_API_URL": base64.b64encode(b"http://evil.example").decode()}}),
           (OBJECTS_POLICY, "only Jupyternetes changes a Jupyternetes secrets"), (WORKLOADS_WEBHOOK, ": data")),
    Attack("user: strip the notebook pod's Jupyternetes labels",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"],
                            [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1managed-by"}],
                            content_type=kube.JSON_PATCH),
           (OBJECTS_POLICY, "cannot be added, changed or removed"),
           (WORKLOADS_WEBHOOK, "app.kubernetes.io/managed-by")),
    Attack("user: label the notebook pod into Zero to JupyterHub's singleuser policy (internet egress)",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"], {"metadata": {"labels": {
               "app": "jupyterhub", "component": "singleuser-server", "release": "jhub"}}}),
           (OBJECTS_POLICY, "the labels of a Jupyternetes object"), (WORKLOADS_WEBHOOK, "metadata.labels['component']")),
    Attack("user: label the notebook pod as one that may reach every notebook",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"], {"metadata": {"labels": {
               "hub.jupyter.org/network-access-singleuser": "true"}}}),
           (OBJECTS_POLICY, "cannot be added, changed or removed"),
           (WORKLOADS_WEBHOOK, "hub.jupyter.org/network-access-singleuser")),
    Attack("user: add an owner reference to the notebook pod",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"], {"metadata": {"ownerReferences": [
               *a.victim.pod["metadata"]["ownerReferences"],
               {"apiVersion": "v1", "kind": "ConfigMap", "name": "x",
                "uid": "0b0c8e64-0000-0000-0000-000000000000"}]}}),
           (OBJECTS_POLICY, "owner references of Jupyternetes objects can only be removed"),
           (WORKLOADS_WEBHOOK, "metadata.ownerReferences")),
    Attack("user: orphan the notebook pod, so that it outlives its server",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"],
                            [{"op": "remove", "path": "/metadata/ownerReferences"}], content_type=kube.JSON_PATCH),
           (OBJECTS_POLICY, "only by the garbage collector"), (WORKLOADS_WEBHOOK, "only the garbage collector")),
    Attack("user: hold the notebook pod with a finalizer",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"],
                            {"metadata": {"finalizers": ["example.com/hold"]}}),
           (OBJECTS_POLICY, "only the control plane changes the finalizers"),
           (WORKLOADS_WEBHOOK, "metadata.finalizers")),
    Attack("user: strip the notebook pod's labels through its status",
           lambda a: a.user.patch(kube.POD, a.victim.pod["metadata"]["name"], [
               {"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1managed-by"}], NAMESPACE,
               content_type=kube.JSON_PATCH, subresource="status", dryRun="All"),
           (OBJECTS_POLICY, "cannot be added, changed or removed"), None),
    Attack("user: label a PVC of their own into a workspace through its status",
           lambda a: a.user.patch(kube.PVC, a.planted, {"metadata": {
               "labels": {k: a.victim.pvc["metadata"]["labels"][k] for k in constants.INSTANCE_LABELS},
               "annotations": {constants.ANNOTATION_INSTANCE_NAME: a.victim.instance["metadata"]["name"]}}},
               NAMESPACE, subresource="status", dryRun="All"),
           (OBJECTS_POLICY, "cannot be added, changed or removed"), None),
    Attack("user: flip blockOwnerDeletion on the notebook pod's owner",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"], {"metadata": {"ownerReferences": [
               {**a.victim.pod["metadata"]["ownerReferences"][0], "blockOwnerDeletion": True}]}}),
           (OBJECTS_POLICY, "nobody adds or changes one"), (WORKLOADS_WEBHOOK, "metadata.ownerReferences")),
    Attack("user: replace the sealing public key the hub seals tokens to",
           lambda a: a.user.patch(kube.CONFIG_MAP, "jupyternetes-sealing",
                                  {"data": {"sealing.pub": "-----BEGIN PUBLIC KEY-----\nattacker\n"}}, NAMESPACE,
                                  dryRun="All"),
           (SEALING_POLICY, "only the Jupyternetes operator changes the sealing public key"), None),
    Attack("user: an ephemeral debug container in the notebook pod",
           lambda a: a.user.patch(kube.POD, a.victim.pod["metadata"]["name"], {"spec": {"ephemeralContainers": [{
               "name": "debug", "image": IMAGE, "targetContainerName": "notebook"}]}}, NAMESPACE,
               subresource="ephemeralcontainers", dryRun="All"),
           (OBJECTS_POLICY, "cannot get ephemeral containers"), (WORKLOADS_WEBHOOK, "ephemeralcontainers")),
    Attack("user: label an ordinary pod into Jupyternetes",
           lambda a: _create(a.user, {**_plain_pod(), "metadata": {**_plain_pod()["metadata"], "labels": {
               constants.LABEL_INSTANCE: a.victim.instance["metadata"]["name"]}}}),
           (OBJECTS_POLICY, "only the Jupyternetes operator may create pods"),
           (WORKLOADS_WEBHOOK, "rule operator-only")),
    Attack("user: a NetworkPolicy that lets every pod in the namespace connect to every pod, notebooks included",
           lambda a: _create(a.user, _network_policy({}, ingress=[{}])),
           (ISOLATION_POLICY, "it can select Jupyternetes pods"), None),
    Attack("user: a NetworkPolicy that lets the notebooks out to the internet",
           lambda a: _create(a.user, _network_policy({"matchLabels": {constants.LABEL_MANAGED_BY: "jupyternetes"}},
                                                     egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}])),
           (ISOLATION_POLICY, "may not create NetworkPolicy"), None),
    Attack("user: a NetworkPolicy whose selector names the notebook by its instance label",
           lambda a: _create(a.user, _network_policy({"matchExpressions": [{
               "key": constants.LABEL_INSTANCE, "operator": "Exists"}]}, egress=[{}])),
           (ISOLATION_POLICY, "only cluster administrators"), None),
    Attack("user: delete the notebooks' isolation policy",
           lambda a: a.user.delete(NETWORK_POLICY, network.ISOLATION_POLICY, NAMESPACE, dryRun="All"),
           (ISOLATION_POLICY, "may not delete NetworkPolicy jupyternetes-notebooks"), None),
    Attack("user: narrow the isolation policy's selector so that it no longer selects the notebooks",
           lambda a: a.user.patch(NETWORK_POLICY, network.ISOLATION_POLICY, {"spec": {"podSelector": {
               "matchLabels": {"app": "nothing"}}}}, NAMESPACE, dryRun="All"),
           (ISOLATION_POLICY, "may not update NetworkPolicy jupyternetes-notebooks"), None),
    Attack("user: give the notebook pod an egress label for a destination",
           lambda a: _patch(a.user, kube.POD, a.victim.pod["metadata"]["name"], {"metadata": {"labels": {
               network.egress_label("package-mirror"): "true"}}}),
           (OBJECTS_POLICY, "cannot be added, changed or removed"),
           (WORKLOADS_WEBHOOK, network.egress_label("package-mirror"))),
    Attack("user (given instance rights): an instance of their own",
           lambda a: _create(a.user, instance(unique("drill-user-instance"))),
           (INSTANCES_POLICY, "may not create notebook instances"), (INSTANCES_WEBHOOK, "rule instance-creators")),
]


def _cases() -> Iterator[Any]:
    """(mode, attack) for every layer that claims the attack, grouped by mode (one change of layers per mode)."""
    for mode in (BOTH, POLICIES, WEBHOOK):
        for attack in ATTACKS:
            layer = (attack.policy or attack.webhook) if mode == BOTH else attack.policy if mode == POLICIES \
                else attack.webhook
            if layer is not None:
                yield pytest.param(mode, attack, id=f"{mode}: {attack.name}")


# The layers --------------------------------------------------------------------------------------------------------


def _webhook_active(cluster: LocalCluster) -> bool:
    """The canary: a template with an image off the allowlist, which only the webhook refuses."""
    template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                "metadata": {"name": unique("canary"), "namespace": cluster.config.template_namespace},
                "spec": {"pods": [{"name": "p", "spec": {"containers": [{"name": "c", "image": "evil.example/x"}]}}]}}
    with cluster.kube(cluster_mod.OFFICER) as officer:
        try:
            officer.create(template, dryRun="All")
            return False
        except kube.Forbidden:
            return True


def _policies_active(cluster: LocalCluster, admin: kube.Kube, user: kube.Kube) -> list[bool]:
    """The canaries, one per policy that the drills here meet: a labelled ConfigMap from the admin, an unlabelled
    Secret from the operator, an instance from the admin and a NetworkPolicy over the notebooks from the namespace
    user, which only the admission policies refuse first. (The API server drops a deleted binding from each policy in
    its own time.)"""
    with cluster.kube(OPERATOR) as operator_account:
        attempts: list[tuple[kube.Kube, dict[str, Any]]] = [
            (admin, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                "name": unique("canary"), "namespace": NAMESPACE, "labels": {constants.LABEL_INSTANCE: "x"}}}),
            (operator_account, {"apiVersion": "v1", "kind": "Secret", "metadata": {
                "name": unique("canary"), "namespace": NAMESPACE}}),
            (admin, instance(unique("canary"))),
            (user, _network_policy({}, ingress=[{}])),
        ]
        verdicts: list[bool] = []
        for client, obj in attempts:
            try:
                client.create(obj, dryRun="All")
                verdicts.append(False)
            except kube.Forbidden as error:
                verdicts.append(refused_by(error.message).startswith("policy:"))
    return verdicts


def _policies_all_acting(cluster: LocalCluster, admin: kube.Kube, user: kube.Kube) -> bool:
    return all(_policies_active(cluster, admin, user))


def _policies_none_acting(cluster: LocalCluster, admin: kube.Kube, user: kube.Kube) -> bool:
    return not any(_policies_active(cluster, admin, user))


@contextlib.contextmanager
def _without(admin: kube.Kube, types: tuple[kube.ResourceType, ...], gone: Callable[[], bool],
             back: Callable[[], bool]) -> Iterator[None]:
    """Delete one layer's objects for as long as the block runs, then restore them exactly as they were; `gone` and
    `back` tell when the API server has stopped, and started again, acting on them."""
    saved = [(rt, obj) for rt in types
             for obj in admin.list(rt, labelSelector="app.kubernetes.io/part-of=jupyternetes")["items"]]
    assert {rt.kind for rt, _ in saved} == {rt.kind for rt in types}, "a layer to remove is not installed"
    try:
        for rt, obj in saved:
            admin.delete(rt, obj["metadata"]["name"])
        cluster_mod.wait_for("the layer to stop acting", gone, timeout=30, interval=0.3)
        yield
    finally:
        for rt, obj in saved:
            meta = obj["metadata"]
            obj["metadata"] = {k: meta[k] for k in ("name", "labels") if k in meta}
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            with contextlib.suppress(kube.Conflict):
                admin.create(obj)
        cluster_mod.wait_for("the layer to act again", back, timeout=30, interval=0.3)


@pytest.fixture(scope="module")
def mode(request: pytest.FixtureRequest, cluster: LocalCluster, admin: kube.Kube, stack: Stack,
         attackers: Attackers) -> Iterator[str]:
    """Takes one layer away for the tests that ask for it. It depends on `attackers` so that the victim's template,
    instance and objects are always made with every layer in place, whatever order the tests run in."""
    if request.param == POLICIES:
        with _without(admin, (VWC, MWC), lambda: not _webhook_active(cluster), lambda: _webhook_active(cluster)):
            yield request.param
    elif request.param == WEBHOOK:
        with _without(admin, (BINDING,), lambda: _policies_none_acting(cluster, admin, attackers.user),
                      lambda: _policies_all_acting(cluster, admin, attackers.user)):
            yield request.param
    else:
        assert _webhook_active(cluster), "the webhook is not registered"
        assert _policies_all_acting(cluster, admin, attackers.user), "the admission policies are not bound"
        yield request.param


LAYERS_TEMPLATE = "drill-layers"


@pytest.fixture(scope="module")
def layers_template(cluster: LocalCluster, stack: Stack) -> dict[str, Any]:
    """An approved template with a workspace PVC and a pod that reads the instance's Secret."""
    template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                "metadata": {"name": LAYERS_TEMPLATE, "namespace": cluster.config.template_namespace},
                "spec": {"pvcs": [{"name": "workspace", "spec": {"accessModes": ["ReadWriteOnce"],
                                                                  "resources": {"requests": {"storage": "1Gi"}}}}],
                         "pods": [{"name": "notebook", "spec": {
                             "containers": [{"name": "notebook", "image": IMAGE,
                                             "envFrom": [{"secretRef": {"name": "{jupyternetes.secret}"}}],
                                             "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}]}],
                             "volumes": [{"name": "home", "persistentVolumeClaim": {
                                 "claimName": "{jupyternetes.pvcs.workspace}"}}]}}]}}
    done = cluster.kubectl("apply", "-f", "-", identity=cluster_mod.OFFICER, input=yaml.safe_dump(template))
    assert done.returncode == 0, done.stderr
    return template


@pytest.fixture(scope="module")
def attackers(cluster: LocalCluster, admin: kube.Kube, hub: kube.Kube, stack: Stack,
              layers_template: dict[str, Any], operator: processes.Component) -> Iterator[Attackers]:
    name = unique("drill-layers")
    extra = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "drill-z2jh-hub", "namespace": NAMESPACE},
             "rules": [{"apiGroups": [""], "resources": ["pods", "secrets", "persistentvolumeclaims"],
                        "verbs": ["get", "list", "watch", "create", "delete"]}]}
    services = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",  # as operator.allowedKinds would give,
                "metadata": {"name": "drill-operator-services", "namespace": NAMESPACE},  # and a careless admin
                "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create"]},
                          {"apiGroups": [""], "resources": ["serviceaccounts/token", "pods/eviction"],
                           "verbs": ["create"]}]}
    debug = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",  # what a namespace admin may do
             "metadata": {"name": "drill-namespace-user-debug", "namespace": NAMESPACE},
             "rules": [{"apiGroups": [""], "resources": ["pods/ephemeralcontainers", "pods/status",
                                                         "persistentvolumeclaims/status"],
                        "verbs": ["patch", "update"]}]}
    user_account = {"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "drill-namespace-user", "namespace": NAMESPACE}}
    bindings = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "drill-z2jh-hub", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "drill-z2jh-hub"},
         "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": cluster.config.hub_namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "drill-operator-services", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "drill-operator-services"},
         "subjects": [{"kind": "ServiceAccount", "name": "jupyternetes-operator",
                       "namespace": cluster.config.system_namespace}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "drill-namespace-user-edit", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
         "subjects": [{"kind": "ServiceAccount", "name": "drill-namespace-user", "namespace": NAMESPACE}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "drill-namespace-user-debug", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "drill-namespace-user-debug"},
         "subjects": [{"kind": "ServiceAccount", "name": "drill-namespace-user", "namespace": NAMESPACE}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "drill-namespace-user-instances", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jupyternetes-hub"},
         "subjects": [{"kind": "ServiceAccount", "name": "drill-namespace-user", "namespace": NAMESPACE}]},
    ]
    isolation = network.NotebookNetwork(ingress_from=network.z2jh_peers(cluster.config.hub_namespace, "proxy", "hub"),
                                        hub_peers=network.z2jh_peers(cluster.config.hub_namespace, "hub")
                                        ).policies(NAMESPACE)
    for obj in (extra, services, debug, user_account, *bindings, *isolation):
        with contextlib.suppress(kube.Conflict):
            admin.create(obj)
    token = admin.request("POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/drill-namespace-user/token",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})["status"]["token"]
    user = kube.Kube(kube.KubeConfig(server=cluster.server, ca_data=(cluster.pki_dir / "ca.crt").read_bytes(),
                                     token=token))
    hub.create({**instance(name, template=LAYERS_TEMPLATE), "spec": {
        "template": {"name": LAYERS_TEMPLATE, "namespace": cluster.config.template_namespace},
        "variables": {"jupyterhub.env.JUPYTERHUB_API_URL": "http://hub:8081/hub/api"}}})
    try:
        cluster_mod.wait_for(f"the operator to provision {name}", lambda: admin.exists(
            kube.POD, naming.object_name(name, "notebook"), NAMESPACE), timeout=60, interval=0.2)
        stored = admin.get(kube.INSTANCE, name, NAMESPACE)
        template = admin.get(kube.TEMPLATE, LAYERS_TEMPLATE, cluster.config.template_namespace)
        manifests = render.render(models.parse_template(template), models.parse_instance(stored))
        pod = copy.deepcopy(manifests.pods[0].manifest)
        pod["metadata"]["ownerReferences"] = [{"apiVersion": constants.API_VERSION, "kind": constants.INSTANCE_KIND,
                                               "name": name, "uid": stored["metadata"]["uid"], "controller": True}]
        secret = admin.get(kube.SECRET, naming.object_name(name, constants.SECRET_ENTRY), NAMESPACE)
        pvc = admin.get(kube.PVC, manifests.pvcs[0].name, NAMESPACE)
        planted = unique("drill-planted")
        user.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": planted, "namespace": NAMESPACE},
                     "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        with cluster.kube(OPERATOR) as operator_account:
            yield Attackers(operator_account, hub, user, admin, Victim(stored, pod, pvc, secret), planted)
        admin.delete(kube.PVC, planted, NAMESPACE)
    finally:
        user.close()
        hub.delete(kube.INSTANCE, name, NAMESPACE)
        for obj in (*bindings, extra, services, debug, user_account, *isolation):
            rt = {"Role": ROLE, "RoleBinding": ROLE_BINDING, "NetworkPolicy": NETWORK_POLICY}.get(
                obj["kind"], kube.SERVICE_ACCOUNT)
            with contextlib.suppress(kube.NotFound):
                admin.delete(rt, obj["metadata"]["name"], NAMESPACE)


@pytest.mark.parametrize(("mode", "attack"), list(_cases()), indirect=["mode"])
def test_each_layer_refuses_what_it_claims(mode: str, attack: Attack, attackers: Attackers) -> None:
    who, words = (attack.policy or attack.webhook) if mode == BOTH else attack.policy if mode == POLICIES \
        else attack.webhook  # type: ignore[misc]
    with pytest.raises(kube.Forbidden) as refused:
        attack.run(attackers)
    message = refused.value.message
    assert refused_by(message) == who, message
    assert words in message, message


@pytest.mark.parametrize("mode", [BOTH], indirect=True)
def test_a_namespace_user_may_still_write_network_policies_for_their_own_pods_and_an_administrator_for_notebooks(
    mode: str, attackers: Attackers
) -> None:
    """The isolation policy refuses only what could select a Jupyternetes pod, and only to those without the custom
    verb manage-notebook-isolation: the user's own policies go through, and so do the cluster administrator's."""
    own = _network_policy({"matchExpressions": [{"key": constants.LABEL_MANAGED_BY, "operator": "NotIn",
                                                 "values": ["jupyternetes"]}]}, ingress=[{}])
    assert attackers.user.create(own, dryRun="All")["metadata"]["name"] == own["metadata"]["name"]
    theirs = _network_policy({"matchLabels": {"app": "their-database", constants.LABEL_MANAGED_BY: "helm"}},
                             egress=[{}])
    assert attackers.user.create(theirs, dryRun="All")["spec"]["podSelector"] == theirs["spec"]["podSelector"]
    opening = _network_policy({}, egress=[{}])
    assert attackers.admin.create(opening, dryRun="All")["spec"]["podSelector"] == {}
    attackers.admin.delete(NETWORK_POLICY, network.ISOLATION_POLICY, NAMESPACE, dryRun="All")


@pytest.mark.parametrize("mode", [POLICIES], indirect=True)
def test_without_the_webhook_a_structurally_sound_object_with_other_content_is_admitted(
    mode: str, attackers: Attackers
) -> None:
    """The limit SECURITY.md states: the policies cannot know what a template renders, so a breached operator whose
    webhook is also down can create a labelled, instance-owned, unprivileged pod running another image."""
    pod = _pod(attackers.victim, lambda s: s["containers"][0].update(image="docker.io/evil/miner:1"))
    created = attackers.operator.create(pod, dryRun="All")
    assert created["spec"]["containers"][0]["image"] == "docker.io/evil/miner:1"
