"""The Validating- and MutatingWebhookConfiguration that put the Jupyternetes webhook in the API server's path.

One definition, used by the local control plane (which creates them), by the webhook (which keeps their caBundle
current) and by the chart's tests (which hold the chart's copy to this one).

Choices that matter for security: `failurePolicy: Fail` (no webhook, no admission), a short timeout, `sideEffects:
None`, `kube-system` and the webhook's own namespace exempt (so the webhook can always be repaired; the admission
policies keep the operator out of them), and, for the kinds Jupyternetes makes (pods, PVCs, Secrets, Services,
ConfigMaps), a CEL match condition so that only what the operator creates, or objects that carry Jupyternetes labels,
annotations or an owner reference to an instance, are sent: every other object in the cluster pays nothing.

Only templates are mutated (their pods get the secure defaults when a template is stored), so the pods rendered from
them are complete as created, and pod creation pays for one webhook call, not two.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Final

from jupyternetes import constants

VALIDATING_NAME: Final = "validate.jupyternetes.kadense.io"
#: The kinds the operator creates (pods and PVCs, the instance's Secret, and the other kinds it may make).
OPERATOR_KINDS: Final = ("pods", "persistentvolumeclaims", "secrets", "services", "configmaps")
MUTATING_NAME: Final = "mutate.jupyternetes.kadense.io"
_API: Final = "admissionregistration.k8s.io/v1"


#: CEL: a status update that adds or changes a server's address (an entry of status.pods with an IP, whose
#: resourceName, podIP or port differs from before). Only those are sent to the webhook, which checks the address
#: is the instance's own pod's; every other status write (conditions, messages, an address removed, an entry with
#: no IP yet) needs no webhook, so the operator can still say what is wrong while the webhook is down.
ADDRESS_CHANGE: Final = (
    "has(object.status) && has(object.status.pods) && object.status.pods.exists(k, "
    "has(object.status.pods[k].podIP) && object.status.pods[k].podIP != '' && "
    "!(has(oldObject.status) && has(oldObject.status.pods) && k in oldObject.status.pods && "
    "oldObject.status.pods[k].?resourceName.orValue('') == object.status.pods[k].?resourceName.orValue('') && "
    "oldObject.status.pods[k].?podIP.orValue('') == object.status.pods[k].?podIP.orValue('') && "
    "oldObject.status.pods[k].?port.orValue(0) == object.status.pods[k].?port.orValue(0)))")


def _jupyternetes_match(operator_user: str) -> str:
    """CEL: the operator creates something, or the object (or, on update, its old self) is Jupyternetes': a label or
    annotation under jupyternetes.kadense.io/, the managed-by label, or an owner reference to a notebook instance."""
    def ours(var: str) -> str:
        return (f"(has({var}.metadata.labels) && {var}.metadata.labels.exists(k, k.startsWith('"
                f"{constants.LABEL_PREFIX}') || (k == '{constants.LABEL_MANAGED_BY}' && "
                f"{var}.metadata.labels[k] == '{constants.MANAGED_BY}'))) || (has({var}.metadata.annotations) && "
                f"{var}.metadata.annotations.exists(k, k.startsWith('{constants.LABEL_PREFIX}'))) || "
                f"(has({var}.metadata.ownerReferences) && {var}.metadata.ownerReferences.exists(r, "
                f"r.kind == '{constants.INSTANCE_KIND}' && r.apiVersion.startsWith('{constants.GROUP}/')))")
    return (f"(request.userInfo.username == '{operator_user}' && request.operation == 'CREATE') || "
            f"(object != null && ({ours('object')})) || (oldObject != null && ({ours('oldObject')}))")


def _client(url: str | None, service: tuple[str, str] | None, path: str, ca_bundle: bytes) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if url:
        config["url"] = url.rstrip("/") + path
    elif service:
        config["service"] = {"namespace": service[0], "name": service[1], "path": path, "port": 443}
    if ca_bundle:
        config["caBundle"] = base64.b64encode(ca_bundle).decode()
    return config


def configurations(
    *,
    name: str,
    namespace: str,
    operator_user: str,
    ca_bundle: bytes = b"",
    url: str | None = None,
    service_name: str | None = None,
    exempt_namespaces: Sequence[str] = ("kube-system",),
    timeout_seconds: int = 5,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(validating, mutating) configurations for a webhook reachable at `url` or through Service `service_name`."""
    service = (namespace, service_name) if service_name else None
    exempt = sorted({*exempt_namespaces, namespace})
    namespace_selector = {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": exempt}]}
    common = {
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": namespace_selector,
        "matchPolicy": "Equivalent",
    }
    ours = [{"name": "jupyternetes-objects", "expression": _jupyternetes_match(operator_user)}]
    kadense = {"apiGroups": [constants.GROUP], "apiVersions": [constants.VERSION]}
    validating = {
        "apiVersion": _API,
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyternetes"}},
        "webhooks": [
            {"name": f"templates.{VALIDATING_NAME}", **common,
             "clientConfig": _client(url, service, "/validate", ca_bundle),
             # DELETE too: a template that instances still use is not deleted out from under them.
             "rules": [{**kadense, "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": [constants.TEMPLATE_PLURAL], "scope": "Namespaced"}]},
            {"name": f"instances.{VALIDATING_NAME}", **common,
             "clientConfig": _client(url, service, "/validate", ca_bundle),
             "rules": [{**kadense, "operations": ["CREATE", "UPDATE"], "resources": [constants.INSTANCE_PLURAL],
                        "scope": "Namespaced"}]},
            # The status tells the hub where a server is: an address that is added or changed must be its pod's.
            {"name": f"instance-addresses.{VALIDATING_NAME}", **common,
             "clientConfig": _client(url, service, "/validate", ca_bundle),
             "rules": [{**kadense, "operations": ["UPDATE"], "resources": [f"{constants.INSTANCE_PLURAL}/status"],
                        "scope": "Namespaced"}],
             "matchConditions": [{"name": "an-address-changes", "expression": ADDRESS_CHANGE}]},
            {"name": f"workloads.{VALIDATING_NAME}", **common,
             "clientConfig": _client(url, service, "/validate", ca_bundle),
             "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                        "resources": ["pods", "pods/ephemeralcontainers", "pods/resize", "persistentvolumeclaims",
                                      "secrets", "services", "configmaps"],
                        "scope": "Namespaced"}],
             "matchConditions": ours},
            # The namespaces left alone above are the operator's to stay out of: it is refused there outright.
            {"name": f"exempt-namespaces.{VALIDATING_NAME}", **common,
             "namespaceSelector": {"matchExpressions": [
                 {"key": "kubernetes.io/metadata.name", "operator": "In", "values": exempt}]},
             "clientConfig": _client(url, service, "/validate", ca_bundle),
             "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                        "resources": list(OPERATOR_KINDS), "scope": "Namespaced"}],
             "matchConditions": [{"name": "the-operator",
                                  "expression": f"request.userInfo.username == '{operator_user}'"}]},
        ],
    }
    mutating = {
        "apiVersion": _API,
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyternetes"}},
        "webhooks": [
            {"name": f"templates.{MUTATING_NAME}", **common, "reinvocationPolicy": "Never",
             "clientConfig": _client(url, service, "/mutate", ca_bundle),
             "rules": [{**kadense, "operations": ["CREATE", "UPDATE"], "resources": [constants.TEMPLATE_PLURAL],
                        "scope": "Namespaced"}]},
        ],
    }
    return validating, mutating
