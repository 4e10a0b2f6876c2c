"""The ValidatingAdmissionPolicies for the local control plane: the chart's own file, bound with this installation's
identities as parameters.

The policies themselves are in `charts/jupyternetes/files/admission-policies.yaml`, read here from the repository, so
the chart and `dev up` run the same CEL. This module builds what differs per installation, the parameter ConfigMap
and the bindings, exactly as the chart's `templates/admission/policies.yaml` does (a test holds the two equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml

REPO_ROOT: Final = Path(__file__).resolve().parents[3]
POLICY_FILE: Final = REPO_ROOT / "charts" / "jupyternetes" / "files" / "admission-policies.yaml"
_API: Final = "admissionregistration.k8s.io/v1"


def policies(path: Path = POLICY_FILE) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicy objects, as shipped in the chart."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def policy_config(path: Path = REPO_ROOT / "policies" / "data.yaml") -> dict[str, Any]:
    """The shipped policy data (jupyternetes.config)."""
    data = yaml.safe_load(path.read_text())
    return dict(data["jupyternetes"]["config"])


def params_name(release: str) -> str:
    return f"{release}-admission-policies"


def params(*, release: str, namespace: str, operator: str, hub: str, instance_creators: Sequence[str],
           exempt_namespaces: Sequence[str], lease_name: str, sealing_configmap: str,
           component_accounts: Sequence[str], policy: dict[str, Any], webhook: str, webhook_configuration: str,
           instance_namespaces: Sequence[str] = ()) -> dict[str, Any]:
    """The ConfigMap that every binding passes to its policy: who is who in this installation, and the parts of the
    policy data (`policy`: jupyternetes.config) that the admission policies hold pods to as well."""
    identity = policy.get("identity") or {}
    scheduling = policy.get("scheduling") or {}
    fields = policy.get("fields") or {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": params_name(release), "namespace": namespace,
                     "labels": {"app.kubernetes.io/part-of": "jupyternetes"}},
        "data": {
            "operator": operator,
            "hub": hub,
            "instanceCreators": ",".join(instance_creators),
            "exemptNamespaces": ",".join(sorted({*exempt_namespaces, namespace})),
            "leaseNamespace": namespace,
            "leaseName": lease_name,
            "sealingConfigMap": sealing_configmap,
            "componentServiceAccounts": ",".join(sorted(set(component_accounts))),
            "allowedServiceAccounts": ",".join(identity.get("allowed_service_accounts") or []),
            "allowTokenMount": "true" if identity.get("allow_token_mount") else "false",
            "allowedTokenAudiences": ",".join(identity.get("allowed_token_audiences") or []),
            "instanceNamespaces": ",".join(instance_namespaces),
            "allowNodePinning": "true" if scheduling.get("allow_node_pinning") else "false",
            "forbiddenTolerationKeys": ",".join(scheduling.get("forbidden_toleration_keys") or []),
            "allowedPriorityClasses": ",".join(scheduling.get("allowed_priority_classes") or []),
            "allowedFields": ",".join(fields.get("allowed") or []),
            "forbiddenLabels": ",".join(f"{key}={value}" for key, values in sorted(
                ((policy.get("labels") or {}).get("forbidden") or {}).items()) for value in values),
            "webhook": webhook,
            "webhookConfiguration": webhook_configuration,
        },
    }


#: The policy that keeps the webhook to the caBundle of its own configurations, bound to those alone.
WEBHOOK_CONFIGURATIONS_POLICY: Final = "jupyternetes-webhook-changes-only-its-ca-bundle"


def bindings(*, release: str, namespace: str, webhook_configuration: str) -> list[dict[str, Any]]:
    """One binding per policy, cluster-wide, denying, with the installation's parameters (denying without them)."""
    out = []
    for policy in policies():
        name = policy["metadata"]["name"]
        spec: dict[str, Any] = {"policyName": name, "validationActions": ["Deny"]}
        if name == WEBHOOK_CONFIGURATIONS_POLICY:
            spec["matchResources"] = {"resourceRules": [{
                "apiGroups": ["admissionregistration.k8s.io"], "apiVersions": ["*"],
                "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
                "operations": ["UPDATE"], "resourceNames": [webhook_configuration]}]}
        spec["paramRef"] = {"name": params_name(release), "namespace": namespace, "parameterNotFoundAction": "Deny"}
        out.append({"apiVersion": _API, "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "jupyternetes"}},
                    "spec": spec})
    return out


def objects(**settings: Any) -> list[dict[str, Any]]:
    """Policies, their parameters and bindings, in the order to create them."""
    return [*policies(), params(**settings), *bindings(release=settings["release"], namespace=settings["namespace"],
                                                       webhook_configuration=settings["webhook_configuration"])]
