"""Every field of a PodSpec and a PersistentVolumeClaimSpec of the pinned Kubernetes version, and how each is judged.

The built-in floor refuses any field that is not in these tables, and any field classified `deny`, unless the policy
data names it in `fields.allowed` (so a field from a newer Kubernetes is refused until someone decides what it means).
Every other field is judged by the floor (`floor`, with its rule), by a Rego policy (`policy`, with its name), or has
no bearing on isolation, identity, credentials or resources (`inert`, with the reason).

Paths are written as the field paths in messages are, with `[*]` for any list item and `{*}` for any map key. An entry
ending in `.**` covers a whole subtree whose every field is judged the same way, whatever it holds (a volume type
that is refused outright, a scheduling preference); everything else covers exactly one field.

`tests/webhook/test_fields.py` derives every field from Kubernetes' own OpenAPI document and fails when one is not
classified here, or when an entry names a field that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

INERT: Final = "inert"
FLOOR: Final = "floor"
POLICY: Final = "policy"
DENY: Final = "deny"

Judged = tuple[str, str]

_CONTAINER: Final[dict[str, Judged]] = {
    "args[*]": (INERT, "the container's own command line"),
    "command[*]": (INERT, "the container's own command line"),
    "env[*].name": (INERT, "an environment variable of the container"),
    "env[*].value": (INERT, "an environment variable of the container"),
    "env[*].valueFrom.configMapKeyRef.**": (POLICY, "credentials"),
    "env[*].valueFrom.secretKeyRef.**": (POLICY, "credentials"),
    "env[*].valueFrom.fieldRef.**": (INERT, "the downward API: the pod's own metadata and status"),
    "env[*].valueFrom.resourceFieldRef.**": (INERT, "the downward API: the container's own resources"),
    "env[*].valueFrom.fileKeyRef.**": (INERT, "reads a file from one of the pod's volumes, which are judged"),
    "envFrom[*].prefix": (INERT, "a name prefix"),
    "envFrom[*].configMapRef.**": (POLICY, "credentials"),
    "envFrom[*].secretRef.**": (POLICY, "credentials"),
    "image": (POLICY, "images"),
    "imagePullPolicy": (INERT, "when the image is pulled, not which"),
    "name": (INERT, "a name"),
    "ports[*].containerPort": (INERT, "a port inside the pod's own network namespace"),
    "ports[*].name": (INERT, "a name"),
    "ports[*].protocol": (INERT, "a protocol inside the pod's own network namespace"),
    "ports[*].hostPort": (FLOOR, "host-ports"),
    "ports[*].hostIP": (FLOOR, "host-ports"),
    "resizePolicy[*].**": (INERT, "whether a resize restarts the container"),
    "resources.limits{*}": (POLICY, "resources"),
    "resources.requests{*}": (POLICY, "resources"),
    "resources.claims[*].**": (DENY, "dynamic resource claims give a container devices; allow them deliberately"),
    "restartPolicy": (INERT, "restarts of the container (sidecars)"),
    "restartPolicyRules[*].**": (INERT, "restarts of the container by exit code"),
    "securityContext.allowPrivilegeEscalation": (FLOOR, "allow-privilege-escalation"),
    "securityContext.appArmorProfile.type": (FLOOR, "apparmor"),
    "securityContext.appArmorProfile.localhostProfile": (FLOOR, "apparmor"),
    "securityContext.capabilities.add[*]": (FLOOR, "capabilities"),
    "securityContext.capabilities.drop[*]": (FLOOR, "capabilities"),
    "securityContext.privileged": (FLOOR, "privileged"),
    "securityContext.procMount": (FLOOR, "proc-mount"),
    "securityContext.readOnlyRootFilesystem": (INERT, "can only take write access away"),
    "securityContext.runAsGroup": (FLOOR, "run-as-user"),
    "securityContext.runAsNonRoot": (FLOOR, "run-as-non-root"),
    "securityContext.runAsUser": (FLOOR, "run-as-user"),
    "securityContext.seLinuxOptions.level": (FLOOR, "selinux"),
    "securityContext.seLinuxOptions.role": (FLOOR, "selinux"),
    "securityContext.seLinuxOptions.type": (FLOOR, "selinux"),
    "securityContext.seLinuxOptions.user": (FLOOR, "selinux"),
    "securityContext.seccompProfile.type": (FLOOR, "seccomp"),
    "securityContext.seccompProfile.localhostProfile": (FLOOR, "seccomp"),
    "securityContext.windowsOptions.hostProcess": (FLOOR, "windows-host-process"),
    "securityContext.windowsOptions.runAsUserName": (FLOOR, "windows-host-process"),
    "securityContext.windowsOptions.gmsaCredentialSpec": (POLICY, "credentials"),
    "securityContext.windowsOptions.gmsaCredentialSpecName": (POLICY, "credentials"),
    "stdin": (INERT, "the container's own terminal"),
    "stdinOnce": (INERT, "the container's own terminal"),
    "tty": (INERT, "the container's own terminal"),
    "terminationMessagePath": (INERT, "where the container writes its exit message"),
    "terminationMessagePolicy": (INERT, "where the container writes its exit message"),
    "volumeDevices[*].**": (DENY, "raw block devices; allow them deliberately"),
    "volumeMounts[*].name": (INERT, "refers to a volume of the pod, which is judged"),
    "volumeMounts[*].mountPath": (INERT, "a path inside the container"),
    "volumeMounts[*].readOnly": (INERT, "can only take write access away"),
    "volumeMounts[*].recursiveReadOnly": (INERT, "can only take write access away"),
    "volumeMounts[*].subPath": (INERT, "a path inside the volume (Kubernetes refuses '..')"),
    "volumeMounts[*].subPathExpr": (INERT, "a path inside the volume (the kubelet refuses '..')"),
    "volumeMounts[*].mountPropagation": (FLOOR, "mount-propagation"),
    "volumeMounts[*].bindMountOptions[*]": (DENY, "mount options of the host's bind mount; allow them deliberately"),
    "workingDir": (INERT, "a path inside the container"),
    "lifecycle.stopSignal": (INERT, "the signal that stops the container"),
}
for _probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle.postStart", "lifecycle.preStop"):
    _CONTAINER[f"{_probe}.httpGet.host"] = (FLOOR, "host-probes")
    _CONTAINER[f"{_probe}.tcpSocket.host"] = (FLOOR, "host-probes")
    for _field in ("exec.command[*]", "httpGet.httpHeaders[*].name", "httpGet.httpHeaders[*].value",
                   "httpGet.path", "httpGet.port", "httpGet.protocol", "httpGet.scheme", "tcpSocket.port"):
        _CONTAINER[f"{_probe}.{_field}"] = (INERT, "a check the kubelet runs against the pod itself")
for _probe in ("livenessProbe", "readinessProbe", "startupProbe"):
    for _field in ("failureThreshold", "initialDelaySeconds", "periodSeconds", "successThreshold", "timeoutSeconds",
                   "terminationGracePeriodSeconds", "grpc.port", "grpc.service", "grpc.mode"):
        _CONTAINER[f"{_probe}.{_field}"] = (INERT, "timing of a check the kubelet runs against the pod itself")
for _hook in ("lifecycle.postStart", "lifecycle.preStop"):
    _CONTAINER[f"{_hook}.sleep.seconds"] = (INERT, "a pause in the container's own lifecycle")

_KEY_TO_PATH: Final[dict[str, Judged]] = {
    "items[*].key": (INERT, "which keys of the referenced object"),
    "items[*].mode": (INERT, "file permissions inside the volume"),
    "items[*].path": (INERT, "a path inside the volume"),
    "items[*].user": (INERT, "file ownership inside the volume"),
}

_PVC_SPEC: Final[dict[str, Judged]] = {
    "accessModes[*]": (INERT, "how the claim may be mounted"),
    "volumeMode": (INERT, "filesystem or block; block devices need volumeDevices, which are refused"),
    "resources.requests{*}": (POLICY, "storage"),
    "resources.limits{*}": (POLICY, "storage"),
    "storageClassName": (POLICY, "storage"),
    "volumeAttributesClassName": (DENY, "a volume attributes class changes the volume's performance tier"),
    "dataSource.**": (POLICY, "storage"),
    "dataSourceRef.**": (POLICY, "storage"),
    "selector.**": (POLICY, "storage"),
    "volumeName": (POLICY, "storage"),
}

#: Volume types that the restricted profile forbids outright: the whole subtree is refused by the floor.
FORBIDDEN_VOLUME_TYPES: Final = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker",
    "gcePersistentDisk", "gitRepo", "glusterfs", "hostPath", "iscsi", "nfs", "photonPersistentDisk",
    "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "vsphereVolume",
)


_CLAIM_METADATA: Final = (DENY, "only labels and annotations belong in a claim template's metadata")


def _pod_spec() -> dict[str, Judged]:
    table: dict[str, Judged] = {
        "spec.activeDeadlineSeconds": (INERT, "how long the pod may run"),
        "spec.affinity.**": (INERT, "scheduling preferences among nodes the pod may use anyway"),
        "spec.automountServiceAccountToken": (POLICY, "identity"),
        "spec.dnsConfig.**": (INERT, "the pod's own resolver configuration"),
        "spec.dnsPolicy": (INERT, "the pod's own resolver configuration"),
        "spec.enableServiceLinks": (INERT, "environment variables naming Services the pod can reach anyway"),
        "spec.evictionResponders[*].**": (DENY, "eviction responders can delay evictions; allow them deliberately"),
        "spec.hostAliases[*].**": (INERT, "entries in the pod's own /etc/hosts"),
        "spec.hostIPC": (FLOOR, "host-namespaces"),
        "spec.hostNetwork": (FLOOR, "host-namespaces"),
        "spec.hostPID": (FLOOR, "host-namespaces"),
        "spec.hostUsers": (FLOOR, "user-namespaces"),
        "spec.hostname": (INERT, "the pod's own host name"),
        "spec.hostnameOverride": (INERT, "the pod's own host name"),
        "spec.subdomain": (INERT, "the pod's own host name"),
        "spec.setHostnameAsFQDN": (INERT, "the pod's own host name"),
        "spec.imagePullSecrets[*].name": (POLICY, "credentials"),
        "spec.nodeName": (DENY, "nodeName bypasses the scheduler; use nodeSelector or affinity"),
        "spec.nodeSelector{*}": (INERT, "scheduling among nodes the pod may use anyway"),
        "spec.os.name": (FLOOR, "os"),
        "spec.overhead{*}": (INERT, "set from the RuntimeClass by the API server, which refuses other values"),
        "spec.preemptionPolicy": (INERT, "whether this pod may preempt; its priority class is judged"),
        "spec.priority": (INERT, "set from the priority class by the API server, which refuses other values"),
        "spec.priorityClassName": (POLICY, "scheduling"),
        "spec.readinessGates[*].conditionType": (INERT, "extra readiness conditions"),
        "spec.resourceClaims[*].**": (DENY, "dynamic resource claims give the pod devices; allow them deliberately"),
        "spec.resources.limits{*}": (POLICY, "resources"),
        "spec.resources.requests{*}": (POLICY, "resources"),
        "spec.resources.claims[*].**": (DENY, "dynamic resource claims give the pod devices; allow them deliberately"),
        "spec.restartPolicy": (INERT, "restarts of the pod's own containers"),
        "spec.runtimeClassName": (POLICY, "scheduling"),
        "spec.schedulerName": (POLICY, "scheduling"),
        "spec.schedulingGates[*].name": (INERT, "holds the pod back from scheduling"),
        "spec.schedulingGroup.podGroupName": (INERT, "gang scheduling among nodes the pod may use anyway"),
        "spec.serviceAccount": (POLICY, "identity"),
        "spec.serviceAccountName": (POLICY, "identity"),
        "spec.shareProcessNamespace": (INERT, "the pod's containers see each other's processes"),
        "spec.terminationGracePeriodSeconds": (INERT, "how long the pod has to stop"),
        "spec.tolerations[*].**": (POLICY, "scheduling"),
        "spec.topologySpreadConstraints[*].**": (INERT, "scheduling preferences among nodes the pod may use anyway"),
        "spec.securityContext.appArmorProfile.type": (FLOOR, "apparmor"),
        "spec.securityContext.appArmorProfile.localhostProfile": (FLOOR, "apparmor"),
        "spec.securityContext.fsGroup": (INERT, "the group that owns the pod's volumes (any non-root user may)"),
        "spec.securityContext.fsGroupChangePolicy": (INERT, "when volume ownership is changed"),
        "spec.securityContext.runAsGroup": (FLOOR, "run-as-user"),
        "spec.securityContext.runAsNonRoot": (FLOOR, "run-as-non-root"),
        "spec.securityContext.runAsUser": (FLOOR, "run-as-user"),
        "spec.securityContext.seLinuxChangePolicy": (INERT, "how SELinux labels are applied to volumes"),
        "spec.securityContext.seLinuxOptions.level": (FLOOR, "selinux"),
        "spec.securityContext.seLinuxOptions.role": (FLOOR, "selinux"),
        "spec.securityContext.seLinuxOptions.type": (FLOOR, "selinux"),
        "spec.securityContext.seLinuxOptions.user": (FLOOR, "selinux"),
        "spec.securityContext.seccompProfile.type": (FLOOR, "seccomp"),
        "spec.securityContext.seccompProfile.localhostProfile": (FLOOR, "seccomp"),
        "spec.securityContext.supplementalGroups[*]": (INERT, "extra groups of the (non-root) user"),
        "spec.securityContext.supplementalGroupsPolicy": (INERT, "whether the image's groups are merged in"),
        "spec.securityContext.sysctls[*].name": (FLOOR, "sysctls"),
        "spec.securityContext.sysctls[*].value": (FLOOR, "sysctls"),
        "spec.securityContext.windowsOptions.hostProcess": (FLOOR, "windows-host-process"),
        "spec.securityContext.windowsOptions.runAsUserName": (FLOOR, "windows-host-process"),
        "spec.securityContext.windowsOptions.gmsaCredentialSpec": (POLICY, "credentials"),
        "spec.securityContext.windowsOptions.gmsaCredentialSpecName": (POLICY, "credentials"),
        "spec.volumes[*].name": (INERT, "a name"),
        "spec.volumes[*].configMap.name": (POLICY, "credentials"),
        "spec.volumes[*].configMap.optional": (INERT, "whether the pod starts without it"),
        "spec.volumes[*].configMap.defaultMode": (INERT, "file permissions inside the volume"),
        "spec.volumes[*].configMap.defaultUser": (INERT, "file ownership inside the volume"),
        "spec.volumes[*].secret.secretName": (POLICY, "credentials"),
        "spec.volumes[*].secret.optional": (INERT, "whether the pod starts without it"),
        "spec.volumes[*].secret.defaultMode": (INERT, "file permissions inside the volume"),
        "spec.volumes[*].secret.defaultUser": (INERT, "file ownership inside the volume"),
        "spec.volumes[*].downwardAPI.**": (INERT, "the downward API: the pod's own metadata and resources"),
        "spec.volumes[*].emptyDir.medium": (INERT, "memory-backed scratch space counts against the memory limit"),
        "spec.volumes[*].emptyDir.mode": (INERT, "file permissions inside the volume"),
        "spec.volumes[*].emptyDir.sizeLimit": (INERT, "scratch space, bounded by the node's ephemeral storage"),
        "spec.volumes[*].persistentVolumeClaim.claimName": (POLICY, "storage"),
        "spec.volumes[*].persistentVolumeClaim.readOnly": (INERT, "can only take write access away"),
        "spec.volumes[*].image.reference": (POLICY, "images"),
        "spec.volumes[*].image.pullPolicy": (INERT, "when the image is pulled, not which"),
        "spec.volumes[*].csi.**": (POLICY, "storage"),
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.labels{*}": (POLICY, "storage"),
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.annotations{*}": (POLICY, "storage"),
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.creationTimestamp": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.deletionGracePeriodSeconds": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.deletionTimestamp": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.finalizers[*]": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.generateName": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.generation": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.managedFields[*].**": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.name": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.namespace": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.ownerReferences[*].**": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.resourceVersion": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.selfLink": _CLAIM_METADATA,
        "spec.volumes[*].ephemeral.volumeClaimTemplate.metadata.uid": _CLAIM_METADATA,
        "spec.volumes[*].projected.defaultMode": (INERT, "file permissions inside the volume"),
        "spec.volumes[*].projected.defaultUser": (INERT, "file ownership inside the volume"),
        "spec.volumes[*].projected.sources[*].configMap.name": (POLICY, "credentials"),
        "spec.volumes[*].projected.sources[*].configMap.optional": (INERT, "whether the pod starts without it"),
        "spec.volumes[*].projected.sources[*].secret.name": (POLICY, "credentials"),
        "spec.volumes[*].projected.sources[*].secret.optional": (INERT, "whether the pod starts without it"),
        "spec.volumes[*].projected.sources[*].downwardAPI.**": (INERT, "the downward API: the pod's own metadata"),
        "spec.volumes[*].projected.sources[*].serviceAccountToken.**": (POLICY, "identity"),
        "spec.volumes[*].projected.sources[*].clusterTrustBundle.**": (INERT, "public CA certificates"),
        "spec.volumes[*].projected.sources[*].podCertificate.**": (DENY, "pod certificates give the pod an "
                                                                          "identity; allow them deliberately"),
    }
    for source in ("configMap", "secret"):
        for field, judged in _KEY_TO_PATH.items():
            table[f"spec.volumes[*].{source}.{field}"] = judged
            table[f"spec.volumes[*].projected.sources[*].{source}.{field}"] = judged
    for field, judged in _PVC_SPEC.items():
        table[f"spec.volumes[*].ephemeral.volumeClaimTemplate.spec.{field}"] = judged
    for source in FORBIDDEN_VOLUME_TYPES:
        table[f"spec.volumes[*].{source}.**"] = (FLOOR, "host-path-volumes" if source == "hostPath"
                                                 else "volume-types")
    for list_name in ("containers", "initContainers", "ephemeralContainers"):
        for field, judged in _CONTAINER.items():
            table[f"spec.{list_name}[*].{field}"] = judged
    table["spec.ephemeralContainers[*].targetContainerName"] = (INERT, "which container's namespaces to join")
    return table


_INDEX: Final = re.compile(r"\[\d+\]")
_SEPARATORS: Final = re.compile(r"[.\[{]")


@dataclass(frozen=True)
class Field:
    """One field that a spec sets: where it is, its table pattern, and how it is judged (None: not a known field)."""

    path: str
    pattern: str
    judged: Judged | None


class Table:
    """A classification table, with what walking a spec needs precomputed."""

    def __init__(self, entries: Mapping[str, Judged]) -> None:
        self.entries: dict[str, Judged] = dict(entries)
        self.exact = {key: judged for key, judged in self.entries.items() if not key.endswith(".**")}
        self.subtrees = {key[:-3]: judged for key, judged in self.entries.items() if key.endswith(".**")}
        self.maps = frozenset(key[:match.start()] for key in self.entries for match in re.finditer(r"\{\*\}", key))
        interior: set[str] = set()
        for key in (*self.exact, *self.subtrees):
            for match in _SEPARATORS.finditer(key):
                interior.add(key[:match.start()])
        self.interior = frozenset(interior)
        self.known = self.interior | self.exact.keys() | self.subtrees.keys()

    def judged(self, pattern: str) -> Judged | None:
        """How the field at `pattern` is judged: its own entry, or that of a subtree it is in."""
        if pattern in self.exact:
            return self.exact[pattern]
        for match in reversed(list(_SEPARATORS.finditer(pattern))):
            root = pattern[:match.start()]
            if root in self.subtrees:
                return self.subtrees[root]
        return self.subtrees.get(pattern)

    def walk(self, spec: Any, path: str = "spec", pattern: str = "spec") -> Iterator[Field]:
        """Every field set in `spec` (the value at `path`): leaves, and the roots of subtrees judged as a whole.
        A field that is not in the table is yielded with `judged=None`, and not walked into."""
        if pattern in self.subtrees:
            yield Field(path, pattern, self.subtrees[pattern])
            return
        if isinstance(spec, Mapping) and (pattern in self.interior or pattern in self.maps):
            is_map = pattern in self.maps
            for key, value in spec.items():
                child_path = f"{path}[{str(key)!r}]" if is_map else f"{path}.{key}"
                yield from self.walk(value, child_path, f"{pattern}{{*}}" if is_map else f"{pattern}.{key}")
        elif isinstance(spec, list) and f"{pattern}[*]" in self.known:
            for index, item in enumerate(spec):
                yield from self.walk(item, f"{path}[{index}]", f"{pattern}[*]")
        elif pattern in self.exact:
            yield Field(path, pattern, self.exact[pattern])
        else:
            yield Field(path, pattern, None)


#: PodSpec fields under `spec`, as rendered pods carry them.
POD_SPEC: Final = Table(_pod_spec())
#: PersistentVolumeClaimSpec fields under `spec`.
PVC_SPEC: Final = Table({f"spec.{field}": judged for field, judged in _PVC_SPEC.items()})


def normalise(path: str) -> str:
    """A concrete field path (`spec.containers[0].image`) as a table pattern (`spec.containers[*].image`)."""
    return _INDEX.sub("[*]", path)
