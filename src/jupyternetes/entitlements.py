"""Entitlements: which JupyterHub users and groups may use which templates (policy data `entitlements`).

The same rule is applied in two places: the spawner offers each user only the profiles whose templates they are
entitled to (a convenience, so nobody is shown a choice that would be refused), and the webhook's `entitlements`
policy (policies/entitlements) refuses an instance whose user is not entitled to its template (the decision). A test
holds this module and the Rego policy to the same answers.

A template is named by `namespace/name` patterns in which `*` matches any run of characters within one part. With
no rules at all, everyone may use every template; once there is one rule, a template no rule names is refused to
everyone (deny by default). `"*"` in `users` or `groups` means every user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

#: A template pattern: namespace/name, each part of DNS characters and `*`.
TEMPLATE_PATTERN: Final = r"^[a-z0-9*]([-a-z0-9.*]*)/[a-z0-9*]([-a-z0-9.*]*)$"
#: The variable in which the spawner tells the webhook the user's groups: a JSON list of names.
GROUPS_VARIABLE: Final = "jupyterhub.user.groups"
USER_VARIABLE: Final = "jupyterhub.user.name"
EVERYONE: Final = "*"


def template_matches(pattern: str, namespace: str, name: str) -> bool:
    """Whether `namespace/name` matches `pattern` (`*` never crosses the `/`)."""
    expression = "".join("[^/]*" if char == "*" else re.escape(char) for char in pattern)
    return re.fullmatch(expression, f"{namespace}/{name}") is not None


def rules_for(rules: Sequence[Mapping[str, Any]], namespace: str, name: str) -> list[Mapping[str, Any]]:
    """The rules that name template `namespace/name`."""
    return [rule for rule in rules if any(template_matches(p, namespace, name) for p in rule.get("templates") or [])]


def entitled(rules: Sequence[Mapping[str, Any]], namespace: str, name: str, user: str,
             groups: Iterable[str]) -> bool:
    """Whether `user` (a member of `groups`) may use template `namespace/name` under `rules`."""
    if not rules:
        return True
    groups = set(groups)
    for rule in rules_for(rules, namespace, name):
        users, allowed_groups = set(rule.get("users") or []), set(rule.get("groups") or [])
        if EVERYONE in users or EVERYONE in allowed_groups or user in users or groups & allowed_groups:
            return True
    return False


def refusal(rules: Sequence[Mapping[str, Any]], namespace: str, name: str, user: str) -> str:
    """Why `user` may not use template `namespace/name`, in words for the user (who cannot see the policy data)."""
    if not rules_for(rules, namespace, name):
        return (f"template {namespace}/{name} is not available to anyone yet (no entitlement names it); ask a "
                "security officer to add it to the entitlements")
    return (f"{user} is not entitled to template {namespace}/{name}: it is for particular users and groups only; "
            "ask a security officer (or your group's manager) for access")


def hub_user(instance: Any) -> dict[str, Any] | None:
    """The JupyterHub user an instance is for, and their groups, as the hub asserted them in its variables (for the
    records of the webhook and the operator); None when it names no user."""
    spec = instance.get("spec") if isinstance(instance, Mapping) else None
    variables = spec.get("variables") if isinstance(spec, Mapping) else None
    variables = variables if isinstance(variables, Mapping) else {}
    name = variables.get(USER_VARIABLE)
    if not isinstance(name, str) or not name:
        return None
    raw = variables.get(GROUPS_VARIABLE)
    try:
        groups = json.loads(raw if isinstance(raw, str) and raw else "[]")
    except ValueError:
        groups = []
    return {"name": name, "groups": sorted(g for g in groups if isinstance(g, str)) if isinstance(groups, list)
            else []}
