"""Resource types: the kinds Jupyternetes uses, and how their request paths are built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote


from jupyternetes import constants


@dataclass(frozen=True)
class ResourceType:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection or object. Every segment that comes from data (namespace, name,
        subresource) is checked and quoted, so that no value can change which object is read or written."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{_segment(namespace, 'namespace')}")
        parts.append(self.plural)
        if name:
            parts.append(_segment(name, "name"))
            if subresource:
                parts.append(_segment(subresource, "subresource"))
        return "/".join(parts)


def _segment(value: str, what: str) -> str:
    """One path segment, percent-quoted; a value that is no name at all (empty, a dot segment, a slash, a control
    character) is refused, never sent."""
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "%" in value or any(
            ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"{what} {value!r} is not a Kubernetes object name; refusing to build a request path from it")
    return quote(value, safe="")


def _rt(api_version: str, kind: str, plural: str, namespaced: bool = True) -> ResourceType:
    return ResourceType(api_version, kind, plural, namespaced)


#: Kinds that Jupyternetes and its tests use, so they need no discovery round trip.
KNOWN_TYPES: Final[dict[tuple[str, str], ResourceType]] = {
    (rt.api_version, rt.kind): rt
    for rt in (
        _rt("v1", "Pod", "pods"),
        _rt("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        _rt("v1", "Secret", "secrets"),
        _rt("v1", "ConfigMap", "configmaps"),
        _rt("v1", "Service", "services"),
        _rt("v1", "ServiceAccount", "serviceaccounts"),
        _rt("v1", "Event", "events"),
        _rt("v1", "ResourceQuota", "resourcequotas"),
        _rt("v1", "LimitRange", "limitranges"),
        _rt("v1", "Namespace", "namespaces", namespaced=False),
        _rt("v1", "Node", "nodes", namespaced=False),
        _rt("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
        _rt("events.k8s.io/v1", "Event", "events"),
        _rt("apps/v1", "Deployment", "deployments"),
        _rt("apps/v1", "StatefulSet", "statefulsets"),
        _rt("apps/v1", "DaemonSet", "daemonsets"),
        _rt("batch/v1", "Job", "jobs"),
        _rt("batch/v1", "CronJob", "cronjobs"),
        _rt("coordination.k8s.io/v1", "Lease", "leases"),
        _rt("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        _rt("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        _rt("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        _rt("rbac.authorization.k8s.io/v1", "Role", "roles"),
        _rt("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        _rt("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
        _rt("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings", namespaced=False),
        _rt("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False),
        _rt("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False),
        _rt("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False),
        _rt("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False),
        _rt("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False),
        _rt(constants.API_VERSION, constants.TEMPLATE_KIND, constants.TEMPLATE_PLURAL),
        _rt(constants.API_VERSION, constants.INSTANCE_KIND, constants.INSTANCE_PLURAL),
    )
}

POD: Final = KNOWN_TYPES[("v1", "Pod")]
PVC: Final = KNOWN_TYPES[("v1", "PersistentVolumeClaim")]
SECRET: Final = KNOWN_TYPES[("v1", "Secret")]
SERVICE_ACCOUNT: Final = KNOWN_TYPES[("v1", "ServiceAccount")]
CONFIG_MAP: Final = KNOWN_TYPES[("v1", "ConfigMap")]
EVENT: Final = KNOWN_TYPES[("v1", "Event")]
NAMESPACE: Final = KNOWN_TYPES[("v1", "Namespace")]
TEMPLATE: Final = KNOWN_TYPES[(constants.API_VERSION, constants.TEMPLATE_KIND)]
INSTANCE: Final = KNOWN_TYPES[(constants.API_VERSION, constants.INSTANCE_KIND)]
