"""Mutating defaults: filled in only where unset, idempotent, never loosening, each change reported."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from jupyternetes.webhook import defaults, floor
from tests import seeds

LIMITS = defaults.PodDefaults(limits={"cpu": "2", "memory": "4Gi"})


def _seed_pod_spec() -> dict:
    return copy.deepcopy(seeds.seed_template()["spec"]["pods"][0]["spec"])


def test_the_seed_pod_passes_the_floor_once_defaulted() -> None:
    assert floor.check_pod_spec(_seed_pod_spec()) != []
    spec, changes = defaults.apply(_seed_pod_spec(), LIMITS)
    assert floor.check_pod_spec(spec) == []
    assert changes == list(seeds.SEED_POD_DEFAULTS)


def test_applying_twice_changes_nothing_the_second_time() -> None:
    once, _ = defaults.apply(_seed_pod_spec(), LIMITS)
    twice, changes = defaults.apply(once, LIMITS)
    assert twice == once
    assert changes == []


def test_explicit_values_are_never_overridden_even_unsafe_ones() -> None:
    spec = _seed_pod_spec()
    spec["securityContext"] = {"seccompProfile": {"type": "Unconfined"}}
    spec["automountServiceAccountToken"] = True
    spec["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": True, "runAsNonRoot": False}
    spec["containers"][0]["resources"] = {"limits": {"cpu": "16"}}
    result, _ = defaults.apply(spec, LIMITS)
    assert result["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert "runAsNonRoot" not in result["securityContext"]  # a container asked for root: left for the floor to deny
    assert result["automountServiceAccountToken"] is True
    assert result["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is True
    assert result["containers"][0]["resources"]["limits"]["cpu"] == "16"
    assert {v.rule for v in floor.check_pod_spec(result)} >= {"seccomp", "allow-privilege-escalation",
                                                              "run-as-non-root"}


def test_a_drop_list_without_all_gains_all_and_keeps_the_rest() -> None:
    spec = _seed_pod_spec()
    spec["containers"][0]["securityContext"] = {"capabilities": {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}}
    result, _ = defaults.apply(spec, LIMITS)
    caps = result["containers"][0]["securityContext"]["capabilities"]
    assert caps == {"drop": ["NET_RAW", "ALL"], "add": ["SYS_ADMIN"]}


def test_a_default_limit_below_the_request_becomes_the_request() -> None:
    spec = _seed_pod_spec()
    spec["containers"][0]["resources"] = {"requests": {"memory": "8Gi", "cpu": "500m"}}
    result, _ = defaults.apply(spec, LIMITS)
    assert result["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}


def test_the_injected_service_account_token_volume_goes_when_automount_is_turned_off() -> None:
    spec = _seed_pod_spec()
    spec["volumes"].append({"name": "kube-api-access-x7k2p", "projected": {"sources": []}})
    spec["containers"][0]["volumeMounts"].append({"name": "kube-api-access-x7k2p",
                                                  "mountPath": defaults.SERVICE_ACCOUNT_MOUNT, "readOnly": True})
    result, changes = defaults.apply(spec, LIMITS)
    assert [v["name"] for v in result["volumes"]] == ["workspace-pvc"]
    assert [m["name"] for m in result["containers"][0]["volumeMounts"]] == ["workspace-pvc"]
    assert any("removed the service-account token volume" in c for c in changes)


security_values = st.one_of(st.none(), st.booleans(), st.sampled_from(["RuntimeDefault", "Unconfined", "Localhost"]))


@settings(max_examples=200, deadline=None)
@given(pod_non_root=security_values, container_escalation=security_values, drop=st.lists(
    st.sampled_from(["ALL", "NET_RAW", "CHOWN"]), max_size=3), seccomp=security_values)
def test_defaults_never_loosen_and_are_idempotent(pod_non_root: object, container_escalation: object,
                                                  drop: list[str], seccomp: object) -> None:
    spec = _seed_pod_spec()
    pod_sc: dict = {}
    if pod_non_root is not None:
        pod_sc["runAsNonRoot"] = pod_non_root
    if seccomp is not None:
        pod_sc["seccompProfile"] = {"type": seccomp}
    spec["securityContext"] = pod_sc
    container_sc: dict = {"capabilities": {"drop": drop}}
    if container_escalation is not None:
        container_sc["allowPrivilegeEscalation"] = container_escalation
    spec["containers"][0]["securityContext"] = container_sc
    before = {v.path for v in floor.check_pod_spec(spec)}
    result, _ = defaults.apply(spec, LIMITS)
    after = {v.path for v in floor.check_pod_spec(result)}
    assert after <= before  # mutation only ever removes violations, never adds one
    assert defaults.apply(result, LIMITS) == (result, [])


def test_a_windows_pod_gets_no_field_kubernetes_forbids_on_windows() -> None:
    """Kubernetes refuses seccompProfile, allowPrivilegeEscalation and capabilities on a pod whose spec.os.name is
    windows: the defaults leave them out there, and fill in the rest."""
    from jupyternetes.webhook import defaults

    spec = {"os": {"name": "windows"}, "containers": [{"name": "c", "image": "x"}]}
    out, changes = defaults.apply(spec, defaults.PodDefaults(limits={"cpu": "2"}))
    assert "seccompProfile" not in out["securityContext"]
    assert "securityContext" not in out["containers"][0]
    assert out["containers"][0]["resources"]["limits"] == {"cpu": "2"}
    assert changes == ["spec.securityContext.runAsNonRoot: set to true", "spec.automountServiceAccountToken: set to false",
                       "spec.containers[0].resources.limits.cpu: set to 2"]
