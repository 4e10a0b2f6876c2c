"""The built-in restricted-profile floor, check by check, in both directions (allowed and denied)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from jupyternetes.webhook import floor

Spec = dict[str, Any]


def compliant() -> Spec:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "notebook", "image": "quay.io/jupyter/base-notebook:2026-01-01",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "ports": [{"containerPort": 8888, "name": "http"}],
        }],
        "volumes": [{"name": "work", "persistentVolumeClaim": {"claimName": "w"}}],
    }


def _container_sc(spec: Spec) -> dict[str, Any]:
    return spec["containers"][0]["securityContext"]


def _set(path: list[Any], value: Any) -> Callable[[Spec], None]:
    def edit(spec: Spec) -> None:
        node: Any = spec
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[path[-1]] = value
    return edit


C = ["containers", 0, "securityContext"]
P = ["securityContext"]

DENIED: dict[str, tuple[Callable[[Spec], None], str, str]] = {
    "host network": (_set(["hostNetwork"], True), "host-namespaces", "spec.hostNetwork"),
    "host PID": (_set(["hostPID"], True), "host-namespaces", "spec.hostPID"),
    "host IPC": (_set(["hostIPC"], True), "host-namespaces", "spec.hostIPC"),
    "privileged": (_set([*C, "privileged"], True), "privileged",
                   "spec.containers[0].securityContext.privileged"),
    "privileged init container": (
        lambda s: s.setdefault("initContainers", []).append({**copy.deepcopy(s["containers"][0]), "name": "init",
                                                              "securityContext": {**_container_sc(s),
                                                                                  "privileged": True}}),
        "privileged", "spec.initContainers[0].securityContext.privileged"),
    "privileged ephemeral container": (
        lambda s: s.setdefault("ephemeralContainers", []).append({**copy.deepcopy(s["containers"][0]),
                                                                   "name": "debug", "securityContext": {
                                                                       **_container_sc(s), "privileged": True}}),
        "privileged", "spec.ephemeralContainers[0].securityContext.privileged"),
    "capability added": (_set([*C, "capabilities", "add"], ["SYS_ADMIN"]), "capabilities",
                         "spec.containers[0].securityContext.capabilities.add[0]"),
    "a baseline capability added": (_set([*C, "capabilities", "add"], ["CHOWN"]), "capabilities",
                                    "spec.containers[0].securityContext.capabilities.add[0]"),
    "capabilities not dropped": (_set([*C, "capabilities", "drop"], ["NET_RAW"]), "capabilities",
                                 "spec.containers[0].securityContext.capabilities.drop"),
    "hostPath volume": (_set(["volumes", 0], {"name": "h", "hostPath": {"path": "/"}}), "host-path-volumes",
                        "spec.volumes[0].hostPath"),
    "nfs volume": (_set(["volumes", 0], {"name": "n", "nfs": {"server": "x", "path": "/"}}), "volume-types",
                   "spec.volumes[0].nfs"),
    "gitRepo volume": (_set(["volumes", 0], {"name": "g", "gitRepo": {"repository": "x"}}), "volume-types",
                       "spec.volumes[0].gitRepo"),
    "host port": (_set(["containers", 0, "ports", 0, "hostPort"], 8888), "host-ports",
                  "spec.containers[0].ports[0].hostPort"),
    "probe to another host": (_set(["containers", 0, "livenessProbe"], {"httpGet": {"host": "10.0.0.1", "port": 80}}),
                              "host-probes", "spec.containers[0].livenessProbe.httpGet.host"),
    "lifecycle to another host": (_set(["containers", 0, "lifecycle"],
                                       {"preStop": {"tcpSocket": {"host": "10.0.0.1", "port": 80}}}),
                                  "host-probes", "spec.containers[0].lifecycle.preStop.tcpSocket.host"),
    "AppArmor unconfined": (_set([*C, "appArmorProfile"], {"type": "Unconfined"}), "apparmor",
                            "spec.containers[0].securityContext.appArmorProfile.type"),
    "SELinux type": (_set([*P, "seLinuxOptions"], {"type": "spc_t"}), "selinux",
                     "spec.securityContext.seLinuxOptions.type"),
    "SELinux user": (_set([*C, "seLinuxOptions"], {"user": "system_u"}), "selinux",
                     "spec.containers[0].securityContext.seLinuxOptions.user"),
    "SELinux role": (_set([*C, "seLinuxOptions"], {"role": "sysadm_r"}), "selinux",
                     "spec.containers[0].securityContext.seLinuxOptions.role"),
    "unmasked /proc": (_set([*C, "procMount"], "Unmasked"), "proc-mount",
                       "spec.containers[0].securityContext.procMount"),
    "seccomp unconfined on the pod": (_set([*P, "seccompProfile"], {"type": "Unconfined"}), "seccomp",
                                      "spec.securityContext.seccompProfile.type"),
    "seccomp unset everywhere": (lambda s: s["securityContext"].pop("seccompProfile"), "seccomp",
                                 "spec.containers[0].securityContext.seccompProfile.type"),
    "unsafe sysctl": (_set([*P, "sysctls"], [{"name": "kernel.msgmax", "value": "1"}]), "sysctls",
                      "spec.securityContext.sysctls[0].name"),
    "privilege escalation": (_set([*C, "allowPrivilegeEscalation"], True), "allow-privilege-escalation",
                             "spec.containers[0].securityContext.allowPrivilegeEscalation"),
    "privilege escalation unset": (lambda s: _container_sc(s).pop("allowPrivilegeEscalation"),
                                   "allow-privilege-escalation",
                                   "spec.containers[0].securityContext.allowPrivilegeEscalation"),
    "runAsNonRoot false on a container": (_set([*C, "runAsNonRoot"], False), "run-as-non-root",
                                          "spec.containers[0].securityContext.runAsNonRoot"),
    "runAsNonRoot unset everywhere": (lambda s: s["securityContext"].pop("runAsNonRoot"), "run-as-non-root",
                                      "spec.containers[0].securityContext.runAsNonRoot"),
    "runAsUser 0 on the pod": (_set([*P, "runAsUser"], 0), "run-as-user", "spec.securityContext.runAsUser"),
    "runAsUser 0 on a container": (_set([*C, "runAsUser"], 0), "run-as-user",
                                   "spec.containers[0].securityContext.runAsUser"),
    "Windows HostProcess": (_set([*P, "windowsOptions"], {"hostProcess": True}), "windows-host-process",
                            "spec.securityContext.windowsOptions.hostProcess"),
}

ALLOWED: dict[str, Callable[[Spec], None]] = {
    "the compliant spec itself": lambda s: None,
    "host namespaces explicitly false": lambda s: s.update(hostNetwork=False, hostPID=False, hostIPC=False),
    "privileged false": _set([*C, "privileged"], False),
    "NET_BIND_SERVICE added": _set([*C, "capabilities", "add"], ["NET_BIND_SERVICE"]),
    "every allowed volume type": _set(["volumes"], [
        {"name": "a", "configMap": {"name": "c"}}, {"name": "b", "secret": {"secretName": "s"}},
        {"name": "c", "emptyDir": {}}, {"name": "d", "projected": {"sources": []}},
        {"name": "e", "downwardAPI": {"items": []}}, {"name": "f", "csi": {"driver": "x"}},
        {"name": "g", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}, {"name": "h", "image": {"reference": "x"}},
    ]),
    "host port 0": _set(["containers", 0, "ports", 0, "hostPort"], 0),
    "probe without host": _set(["containers", 0, "readinessProbe"], {"httpGet": {"path": "/", "port": 8888}}),
    "AppArmor runtime default": _set([*C, "appArmorProfile"], {"type": "RuntimeDefault"}),
    "AppArmor localhost": _set([*P, "appArmorProfile"], {"type": "Localhost", "localhostProfile": "p"}),
    "SELinux container_t": _set([*C, "seLinuxOptions"], {"type": "container_t", "level": "s0:c1"}),
    "SELinux container_engine_t": _set([*P, "seLinuxOptions"], {"type": "container_engine_t"}),
    "default /proc": _set([*C, "procMount"], "Default"),
    "seccomp Localhost on the container only": lambda s: (
        s["securityContext"].pop("seccompProfile"),
        _container_sc(s).update(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"})),
    "safe sysctl": _set([*P, "sysctls"], [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]),
    "runAsNonRoot on the container only": lambda s: (s["securityContext"].pop("runAsNonRoot"),
                                                     _container_sc(s).update(runAsNonRoot=True)),
    "non-zero runAsUser": _set([*C, "runAsUser"], 1000),
    "root inside a user namespace": lambda s: (s.update(hostUsers=False), _container_sc(s).update(runAsUser=0),
                                               s["securityContext"].pop("runAsNonRoot")),
    "HostProcess false": _set([*P, "windowsOptions"], {"hostProcess": False}),
}


@pytest.mark.parametrize("case", list(DENIED))
def test_denied(case: str) -> None:
    edit, rule, path = DENIED[case]
    spec = compliant()
    edit(spec)
    violations = floor.check_pod_spec(spec)
    assert (path, rule) in {(v.path, v.rule) for v in violations}, [v.describe() for v in violations]
    for violation in violations:
        assert violation.fix and violation.message


@pytest.mark.parametrize("case", list(ALLOWED))
def test_allowed(case: str) -> None:
    spec = compliant()
    ALLOWED[case](spec)
    assert floor.check_pod_spec(spec) == []


def test_apparmor_annotations() -> None:
    key = floor.APPARMOR_ANNOTATION_PREFIX + "notebook"
    assert floor.check_pod_spec(compliant(), annotations={key: "runtime/default"}) == []
    assert floor.check_pod_spec(compliant(), annotations={key: "localhost/custom"}) == []
    (violation,) = floor.check_pod_spec(compliant(), annotations={key: "unconfined"})
    assert violation.rule == "apparmor"


def test_every_violation_is_reported_at_once() -> None:
    spec = compliant()
    spec.update(hostNetwork=True, hostPID=True)
    _container_sc(spec)["privileged"] = True
    assert {v.rule for v in floor.check_pod_spec(spec)} == {"host-namespaces", "privileged"}
    assert len(floor.check_pod_spec(spec)) == 3


class TestWindowsPods:
    """Pod Security Admission's restricted profile exempts pods with spec.os.name windows from its seccomp,
    privilege-escalation and capabilities checks (Kubernetes forbids those fields on them); the rest still holds."""

    WINDOWS = {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True},
               "automountServiceAccountToken": False, "containers": [{"name": "c", "image": "x"}]}

    def test_a_windows_pod_without_linux_only_fields_passes(self) -> None:
        assert floor.check_pod_spec(self.WINDOWS) == []

    def test_the_same_pod_on_linux_does_not(self) -> None:
        linux = {**self.WINDOWS, "os": {"name": "linux"}}
        assert {v.rule for v in floor.check_pod_spec(linux)} == {"seccomp", "allow-privilege-escalation",
                                                                 "capabilities"}

    def test_the_rest_of_the_profile_still_applies(self) -> None:
        pod = copy.deepcopy(self.WINDOWS)
        pod["hostNetwork"] = True
        pod["securityContext"]["runAsNonRoot"] = False
        assert {v.rule for v in floor.check_pod_spec(pod)} == {"host-namespaces", "run-as-non-root"}


def test_an_annotation_is_named_where_it_is_written() -> None:
    """In a template a pod's annotations sit beside its spec (spec.pods[0].annotations), not in metadata."""
    found = floor.check_pod_spec({"containers": []}, "spec.pods[0].spec",
                                 {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"},
                                 annotations_path="spec.pods[0].annotations")
    assert [v.path for v in found] == ["spec.pods[0].annotations['container.apparmor.security.beta.kubernetes.io/c']"]
