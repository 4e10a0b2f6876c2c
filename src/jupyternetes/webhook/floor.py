"""The built-in floor: the Pod Security Standards "restricted" profile, checked in Python on every pod spec.

The webhook applies this on top of whatever the Rego policies say, so an empty, broken or permissive policy bundle can
never admit a pod that the restricted profile forbids. The rules and allowed values follow Kubernetes'
`k8s.io/pod-security-admission` (policy version v1.37): host namespaces, privileged, capabilities, hostPath and other
volume types, host ports, host probes, AppArmor, SELinux, /proc mount, seccomp, sysctls, privilege escalation,
running as non-root, runAsUser 0 and Windows HostProcess. As in Kubernetes, a pod in its own user namespace
(`hostUsers: false`) may run as root inside it.

Beyond the profile, every field the pod sets must be one the floor knows (`fields`): a field from a newer Kubernetes,
or one classified `deny`, is refused unless the policy data allows it; and no pod may run as JupyterHub's or a
Jupyternetes component's service account.

Every check is a pure function of the pod spec; each problem names the field, the rule and how to comply.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from jupyternetes.webhook import fields

#: The Kubernetes version whose fields `fields` classifies (the toolchain's pin; a test holds them equal).
KUBERNETES_VERSION: Final = "v1.37.1"

CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")

ALLOWED_VOLUME_TYPES: Final = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected",
     "secret"}
)
SAFE_SYSCTLS: Final = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
     "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
     "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
     "net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"}
)
SELINUX_TYPES: Final = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES: Final = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES: Final = frozenset({"RuntimeDefault", "Localhost"})
ADDABLE_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
APPARMOR_ANNOTATION_PREFIX: Final = "container.apparmor.security.beta.kubernetes.io/"


@dataclass(frozen=True)
class Violation:
    """One problem: where (a field path), which rule, what is wrong, and how to comply."""

    path: str
    rule: str
    message: str
    fix: str

    def describe(self) -> str:
        return f"{self.path}: {self.message} (rule {self.rule}); {self.fix}"


def _containers(spec: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(list_name) or []):
            if isinstance(container, dict):
                yield f"{path}.{list_name}[{index}]", container


def _sc(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    value = obj.get("securityContext")
    return value if isinstance(value, dict) else {}


def check_fields(spec: Mapping[str, Any], table: fields.Table, path: str = "spec",
                 allowed: Collection[str] = ()) -> list[Violation]:
    """Fields that no rule judges: unknown to the pinned Kubernetes version, or classified `deny`. Refused unless the
    policy data lists their pattern in `fields.allowed`."""
    out: list[Violation] = []
    for field in table.walk(spec, path):
        if field.pattern in allowed:
            continue
        if field.judged is None:
            out.append(Violation(field.path, "unknown-field", f"field {field.pattern.removeprefix('spec.')!r} is not "
                                 f"a field Jupyternetes knows (Kubernetes {KUBERNETES_VERSION}), so it cannot be "
                                 "judged", f"remove it, or ask a security officer to allow {field.pattern!r} in "
                                 "the policy data (fields.allowed)"))
        elif field.judged[0] == fields.DENY:
            out.append(Violation(field.path, "field-not-allowed", f"{field.judged[1]}",
                                 f"remove it, or ask a security officer to allow {field.pattern!r} in the policy "
                                 "data (fields.allowed)"))
    return out


def check_service_account(spec: Mapping[str, Any], components: Collection[str], path: str = "spec") -> list[Violation]:
    """Notebook pods never run as JupyterHub's or a Jupyternetes component's service account."""
    return [Violation(f"{path}.{field}", "component-identity",
                      f"service account {spec[field]!r} belongs to JupyterHub or a Jupyternetes component",
                      "remove it (pods run as the namespace's default account), or use an account made for notebooks")
            for field in ("serviceAccountName", "serviceAccount") if spec.get(field) in components]


def check_pvc_spec(spec: Mapping[str, Any], path: str = "spec", *,
                   allowed_fields: Collection[str] = ()) -> list[Violation]:
    """Fields of a PersistentVolumeClaimSpec that no rule judges (the profile itself says nothing about claims)."""
    return check_fields(spec, fields.PVC_SPEC, path, allowed_fields)


def is_windows(spec: Mapping[str, Any]) -> bool:
    """A pod that says it runs on Windows (`spec.os.name`): Pod Security Admission exempts it from the seccomp,
    privilege-escalation and capabilities checks, and Kubernetes forbids those fields on it."""
    os_ = spec.get("os")
    return isinstance(os_, Mapping) and os_.get("name") == "windows"


def check_pod_spec(spec: Mapping[str, Any], path: str = "spec",
                   annotations: Mapping[str, str] | None = None, *, allowed_fields: Collection[str] = (),
                   components: Collection[str] = (), annotations_path: str = "metadata.annotations"
                   ) -> list[Violation]:
    """Every violation of the restricted profile in `spec` (a PodSpec), with paths under `path` (the annotations'
    under `annotations_path`); every field that no rule judges; and a component's service account."""
    out: list[Violation] = check_fields(spec, fields.POD_SPEC, path, allowed_fields)
    out += check_service_account(spec, components, path)
    pod_sc = _sc(spec)
    user_namespace = spec.get("hostUsers") is False
    windows = is_windows(spec)

    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            out.append(Violation(f"{path}.{field}", "host-namespaces", "sharing the host's namespaces is forbidden",
                                 f"remove {field} or set it to false"))

    for index, volume in enumerate(spec.get("volumes") or []):
        if not isinstance(volume, Mapping):
            continue
        for source in volume:
            if source != "name" and source not in ALLOWED_VOLUME_TYPES:
                rule = "host-path-volumes" if source == "hostPath" else "volume-types"
                out.append(Violation(f"{path}.volumes[{index}].{source}", rule,
                                     f"volume type {source} is not allowed",
                                     "use one of " + ", ".join(sorted(ALLOWED_VOLUME_TYPES))))

    for index, sysctl in enumerate(pod_sc.get("sysctls") or []):
        name = sysctl.get("name") if isinstance(sysctl, Mapping) else None
        if name not in SAFE_SYSCTLS:
            out.append(Violation(f"{path}.securityContext.sysctls[{index}].name", "sysctls",
                                 f"sysctl {name!r} is not in the safe set", "remove it; only namespaced, isolated "
                                 "sysctls are allowed: " + ", ".join(sorted(SAFE_SYSCTLS))))

    out += _security_context_checks(pod_sc, f"{path}.securityContext", container=False,
                                    user_namespace=user_namespace)

    pod_non_root = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for cpath, container in _containers(spec, path):
        sc = _sc(container)
        scpath = f"{cpath}.securityContext"
        out += _security_context_checks(sc, scpath, container=True, user_namespace=user_namespace)
        if sc.get("privileged") is True:
            out.append(Violation(f"{scpath}.privileged", "privileged", "privileged containers are forbidden",
                                 "remove privileged or set it to false"))
        if sc.get("allowPrivilegeEscalation") is not False and not windows:
            out.append(Violation(f"{scpath}.allowPrivilegeEscalation", "allow-privilege-escalation",
                                 "privilege escalation must be disallowed", "set allowPrivilegeEscalation: false"))
        caps = sc.get("capabilities") if isinstance(sc.get("capabilities"), Mapping) else {}
        if "ALL" not in (caps.get("drop") or []) and not windows:
            out.append(Violation(f"{scpath}.capabilities.drop", "capabilities", "containers must drop ALL capabilities",
                                 "set capabilities.drop: [ALL]"))
        for c_index, cap in enumerate(caps.get("add") or []):
            if cap not in ADDABLE_CAPABILITIES and not windows:
                out.append(Violation(f"{scpath}.capabilities.add[{c_index}]", "capabilities",
                                     f"capability {cap!r} may not be added", "add only NET_BIND_SERVICE"))
        if sc.get("procMount") not in (None, "Default"):
            out.append(Violation(f"{scpath}.procMount", "proc-mount", "only the default /proc mount is allowed",
                                 "remove procMount or set it to Default"))
        non_root = sc.get("runAsNonRoot", pod_non_root)
        if not user_namespace and non_root is not True:
            out.append(Violation(f"{scpath}.runAsNonRoot", "run-as-non-root",
                                 "containers must run as non-root",
                                 "set runAsNonRoot: true on the pod or on this container"))
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in SECCOMP_TYPES and not windows:
            out.append(Violation(f"{scpath}.seccompProfile.type", "seccomp",
                                 f"seccomp profile {seccomp or 'unset'} is not allowed",
                                 "set seccompProfile.type to RuntimeDefault (or Localhost) on the pod or container"))
        for p_index, port in enumerate(container.get("ports") or []):
            if isinstance(port, Mapping) and port.get("hostPort") not in (None, 0):
                out.append(Violation(f"{cpath}.ports[{p_index}].hostPort", "host-ports", "host ports are forbidden",
                                     "remove hostPort"))
        handlers = [(probe, container.get(probe)) for probe in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(f"lifecycle.{hook}", (container.get("lifecycle") or {}).get(hook)) for hook in
                     ("postStart", "preStop")]
        for where, handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                if isinstance(handler, Mapping) and ((handler.get(kind) or {}).get("host")):
                    out.append(Violation(f"{cpath}.{where}.{kind}.host", "host-probes",
                                         "probes and lifecycle handlers may not target another host",
                                         f"remove {kind}.host (the pod's own IP is used)"))

    if not user_namespace and pod_sc.get("runAsUser") == 0:
        out.append(Violation(f"{path}.securityContext.runAsUser", "run-as-user", "running as user 0 (root) is "
                             "forbidden", "use a non-zero runAsUser"))
    for key, value in (annotations or {}).items():
        if key.startswith(APPARMOR_ANNOTATION_PREFIX) and not (value == "runtime/default" or
                                                                value.startswith("localhost/")):
            out.append(Violation(f"{annotations_path}[{key!r}]", "apparmor",
                                 f"AppArmor profile {value!r} is not allowed", "use runtime/default or localhost/*"))
    return out


def _security_context_checks(sc: Mapping[str, Any], path: str, container: bool,
                             user_namespace: bool) -> list[Violation]:
    """Checks that apply alike to the pod's and each container's securityContext."""
    out: list[Violation] = []
    se = sc.get("seLinuxOptions") if isinstance(sc.get("seLinuxOptions"), Mapping) else {}
    if se.get("type", "") not in SELINUX_TYPES:
        out.append(Violation(f"{path}.seLinuxOptions.type", "selinux", f"SELinux type {se.get('type')!r} is not "
                             "allowed", "use container_t, container_init_t, container_kvm_t or container_engine_t"))
    for field in ("user", "role"):
        if se.get(field):
            out.append(Violation(f"{path}.seLinuxOptions.{field}", "selinux", f"a custom SELinux {field} is "
                                 "forbidden", f"remove seLinuxOptions.{field}"))
    seccomp = sc.get("seccompProfile") if isinstance(sc.get("seccompProfile"), Mapping) else {}
    if seccomp.get("type") == "Unconfined":
        out.append(Violation(f"{path}.seccompProfile.type", "seccomp", "the Unconfined seccomp profile is forbidden",
                             "use RuntimeDefault or Localhost"))
    apparmor = sc.get("appArmorProfile") if isinstance(sc.get("appArmorProfile"), Mapping) else {}
    if apparmor and apparmor.get("type") not in APPARMOR_TYPES:
        out.append(Violation(f"{path}.appArmorProfile.type", "apparmor",
                             f"AppArmor profile {apparmor.get('type')!r} is not allowed", "use RuntimeDefault or "
                             "Localhost"))
    windows = sc.get("windowsOptions") if isinstance(sc.get("windowsOptions"), Mapping) else {}
    if windows.get("hostProcess") is True:
        out.append(Violation(f"{path}.windowsOptions.hostProcess", "windows-host-process",
                             "Windows HostProcess containers are forbidden", "remove windowsOptions.hostProcess"))
    if container and not user_namespace and sc.get("runAsUser") == 0:
        out.append(Violation(f"{path}.runAsUser", "run-as-user", "running as user 0 (root) is forbidden",
                             "use a non-zero runAsUser"))
    return out
