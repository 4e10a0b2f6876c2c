"""What the hub's own Kubernetes identity may do beyond creating instances, asked of the API server itself.

The admission policy stops the hub from writing anything but instances, but no admission control sees a read: a hub
whose RBAC also lets it read Secrets (Zero to JupyterHub's default does) could read every server's API token in its
namespace. The spawner asks with SelfSubjectAccessReviews, which need no permission, and refuses to start servers
while the hub may do any of these, so that a wide RBAC is fixed instead of silently relied on.
"""

from __future__ import annotations

import asyncio
from typing import Final

from jupyternetes import kube

#: (verb, resource, subresource) the hub must not be allowed, in the namespace it spawns into.
FORBIDDEN: Final = (
    ("get", "secrets", ""), ("list", "secrets", ""), ("watch", "secrets", ""),
    ("create", "pods", ""), ("create", "pods", "exec"), ("get", "pods", "log"),
    ("create", "serviceaccounts", "token"), ("create", "persistentvolumeclaims", ""),
)
_REVIEW: Final = kube.KNOWN_TYPES[("authorization.k8s.io/v1", "SelfSubjectAccessReview")]


async def _allowed(api: kube.AsyncKube, namespace: str, verb: str, resource: str, subresource: str) -> bool:
    attributes = {"namespace": namespace, "verb": verb, "resource": resource}
    if subresource:
        attributes["subresource"] = subresource
    answer = await api.create({"apiVersion": _REVIEW.api_version, "kind": _REVIEW.kind,
                               "spec": {"resourceAttributes": attributes}})
    return bool((answer.get("status") or {}).get("allowed"))


async def excess(api: kube.AsyncKube, namespace: str) -> list[str]:
    """Each forbidden permission the hub has in `namespace`, as `verb resource[/subresource]`."""
    checks = await asyncio.gather(*(_allowed(api, namespace, *check) for check in FORBIDDEN))
    return [f"{verb} {resource}{'/' + sub if sub else ''}" for (verb, resource, sub), allowed
            in zip(FORBIDDEN, checks, strict=True) if allowed]
