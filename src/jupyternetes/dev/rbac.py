"""Service accounts and least-privilege RBAC for the local control plane's identities.

Each component gets only what it needs (see SECURITY.md for the matrix and the reasons):

- hub: create, get, list, watch and delete `jupyternotebookinstances` in the hub namespace. Nothing else.
- operator: read instances and templates, write instance status, manage the pods, PVCs and Secrets it renders,
  write Events, and hold a Lease for leader election in the system namespace.
- webhook: read templates and instances, and get pods (to check the address an instance's status names); create
  Events (the periodic audit's PolicyViolation warnings); update its own webhook configurations and certificate
  Secret by name.
- security officer: edit templates in the template namespace and the webhook's policy ConfigMap; read templates and
  instances everywhere.

The names, rules and bindings are the Helm chart's for a release named `jupyternetes` (a test holds the two equal),
so what works under `jupyternetes dev up` works in a cluster.
"""

from __future__ import annotations

from typing import Any, Final

from jupyternetes import constants

HUB_ACCOUNT: Final = "hub"
OPERATOR_ACCOUNT: Final = "jupyternetes-operator"
WEBHOOK_ACCOUNT: Final = "jupyternetes-webhook"
WEBHOOK_CONFIGURATION: Final = "jupyternetes-webhook"
WEBHOOK_TLS_SECRET: Final = "jupyternetes-webhook-tls"
OPERATOR_LEASE: Final = "jupyternetes-operator"
SEALING_CONFIGMAP: Final = "jupyternetes-sealing"
#: The entitlements published for the hub's spawn page (the spawner's default `entitlements_configmap`).
ENTITLEMENTS_CONFIGMAP: Final = "jupyternetes-entitlements"
POLICY_CONFIGMAP: Final = "jupyternetes-webhook-policies"

_RBAC: Final = "rbac.authorization.k8s.io/v1"
READ: Final = ["get", "list", "watch"]


def service_accounts(system_namespace: str, hub_namespace: str) -> dict[str, tuple[str, str]]:
    """identity -> (namespace, service account name)."""
    return {
        "hub": (hub_namespace, HUB_ACCOUNT),
        "operator": (system_namespace, OPERATOR_ACCOUNT),
        "webhook": (system_namespace, WEBHOOK_ACCOUNT),
    }


def user_name(namespace: str, account: str) -> str:
    """The user name a service account's token authenticates as."""
    return f"system:serviceaccount:{namespace}:{account}"


def _rule(groups: list[str], resources: list[str], verbs: list[str],
          names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def hub_rules() -> list[dict[str, Any]]:
    return [_rule([constants.GROUP], [constants.INSTANCE_PLURAL], ["create", "get", "list", "watch", "delete"]),
            _rule([""], ["configmaps"], ["get"], [ENTITLEMENTS_CONFIGMAP])]


def operator_cluster_rules() -> list[dict[str, Any]]:
    """Nothing beyond what the code calls: it never patches or deletes a pod, PVC or Secret (the garbage collector
    removes what an instance owns), never lists Secrets, and writes only the status of instances."""
    return [
        _rule([constants.GROUP], [constants.INSTANCE_PLURAL], READ),
        _rule([constants.GROUP], [f"{constants.INSTANCE_PLURAL}/status"], ["get", "patch"]),
        _rule([constants.GROUP], [constants.TEMPLATE_PLURAL], READ),
        _rule([""], ["pods", "persistentvolumeclaims"], [*READ, "create"]),
        _rule([""], ["secrets"], ["get", "create"]),
        _rule(["", "events.k8s.io"], ["events"], ["create"]),
    ]


def operator_namespace_rules() -> list[dict[str, Any]]:
    return [
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [OPERATOR_LEASE]),
    ]


def operator_publish_rules() -> list[dict[str, Any]]:
    return [_rule([""], ["configmaps"], ["get", "update"], [SEALING_CONFIGMAP])]


def webhook_cluster_rules() -> list[dict[str, Any]]:
    return [
        _rule([constants.GROUP], [constants.TEMPLATE_PLURAL, constants.INSTANCE_PLURAL], READ),
        _rule([""], ["pods"], ["get"]),
        _rule([""], ["events"], ["create"]),
        _rule(["admissionregistration.k8s.io"], ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
              ["get", "update"], [WEBHOOK_CONFIGURATION]),
    ]


def webhook_namespace_rules() -> list[dict[str, Any]]:
    return [_rule([""], ["secrets"], ["get", "update"], [WEBHOOK_TLS_SECRET])]


def officer_template_rules() -> list[dict[str, Any]]:
    return [_rule([constants.GROUP], [constants.TEMPLATE_PLURAL],
                  ["get", "list", "watch", "create", "update", "patch", "delete"])]


def officer_policy_rules() -> list[dict[str, Any]]:
    return [_rule([""], ["configmaps"], ["get", "update", "patch"], [POLICY_CONFIGMAP])]


def viewer_rules() -> list[dict[str, Any]]:
    return [_rule([constants.GROUP], [constants.TEMPLATE_PLURAL, constants.INSTANCE_PLURAL], READ)]


def _role(kind: str, name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyternetes"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": _RBAC, "kind": kind, "metadata": meta, "rules": rules}


def _binding(kind: str, name: str, role_kind: str, subject: dict[str, Any],
             namespace: str | None = None, role: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyternetes"}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": _RBAC, "kind": kind, "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role or name},
        "subjects": [subject],
    }


def _sa(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def hub_objects(namespace: str, hub_namespace: str) -> list[dict[str, Any]]:
    """The hub's Role and its binding in `namespace` (the hub namespace itself, or another one it spawns into)."""
    return [_role("Role", "jupyternetes-hub", hub_rules(), namespace),
            _binding("RoleBinding", "jupyternetes-hub", "Role", _sa(HUB_ACCOUNT, hub_namespace), namespace)]


def dev_objects(system_namespace: str, template_namespace: str, hub_namespace: str,
                officer_group: str) -> list[dict[str, Any]]:
    """Service accounts, roles and bindings for the local control plane, in the order they must be created."""
    objects: list[dict[str, Any]] = []
    for namespace, account in service_accounts(system_namespace, hub_namespace).values():
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount",
                        "metadata": {"name": account, "namespace": namespace}})
    officer = {"kind": "Group", "name": officer_group, "apiGroup": "rbac.authorization.k8s.io"}
    objects += [
        *hub_objects(hub_namespace, hub_namespace),
        _role("ClusterRole", "jupyternetes-operator", operator_cluster_rules()),
        _binding("ClusterRoleBinding", "jupyternetes-operator", "ClusterRole",
                 _sa(OPERATOR_ACCOUNT, system_namespace)),
        _role("Role", "jupyternetes-operator", operator_namespace_rules(), system_namespace),
        _binding("RoleBinding", "jupyternetes-operator", "Role", _sa(OPERATOR_ACCOUNT, system_namespace),
                 system_namespace),
        _role("ClusterRole", "jupyternetes-webhook", webhook_cluster_rules()),
        _binding("ClusterRoleBinding", "jupyternetes-webhook", "ClusterRole", _sa(WEBHOOK_ACCOUNT, system_namespace)),
        _role("Role", "jupyternetes-webhook", webhook_namespace_rules(), system_namespace),
        _binding("RoleBinding", "jupyternetes-webhook", "Role", _sa(WEBHOOK_ACCOUNT, system_namespace),
                 system_namespace),
        _role("Role", "jupyternetes-operator-publish-key", operator_publish_rules(), hub_namespace),
        _binding("RoleBinding", "jupyternetes-operator-publish-key", "Role", _sa(OPERATOR_ACCOUNT, system_namespace),
                 hub_namespace),
        _role("ClusterRole", "jupyternetes-viewer", viewer_rules()),
        _role("ClusterRole", "jupyternetes-template-editor", officer_template_rules()),
        _role("Role", "jupyternetes-policy-editor", officer_policy_rules(), system_namespace),
        _binding("RoleBinding", "jupyternetes-template-editor", "ClusterRole", officer, template_namespace),
        _binding("RoleBinding", "jupyternetes-policy-editor", "Role", officer, system_namespace),
        _binding("ClusterRoleBinding", "jupyternetes-viewer-officers", "ClusterRole", officer,
                 role="jupyternetes-viewer"),
        # Empty; the operator writes its sealing public key into it, for the hub.
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": SEALING_CONFIGMAP, "namespace": hub_namespace}},
    ]
    return objects
