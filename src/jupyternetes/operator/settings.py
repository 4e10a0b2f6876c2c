"""The operator's one settings object. Every field can be set from the environment, prefixed
`JUPYTERNETES_OPERATOR_` (lists as JSON, e.g. `JUPYTERNETES_OPERATOR_NAMESPACES='["users"]'`)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jupyternetes import models


#: Kinds of other resources that the admission webhook and policies judge (and so the only ones the operator makes).
JUDGED_OTHER_KINDS: Final = ("v1/Service", "v1/ConfigMap")


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUPYTERNETES_OPERATOR_", extra="forbid")

    kubeconfig: Path | None = None
    """Kubeconfig to use; unset means the pod's service account (or $KUBECONFIG outside a pod)."""

    namespaces: list[str] = Field(default_factory=list)
    """Namespaces whose instances the operator serves; empty means all namespaces (needs cluster-wide RBAC)."""

    template_namespace: str = ""
    """The one shared namespace (besides an instance's own) whose templates instances may use; empty: none.
    Security officers keep approved templates there; the chart sets it to its release namespace."""

    allowed_kinds: list[str] = Field(default_factory=list)
    """Kinds of `otherResources` the operator creates: `v1/Service` and `v1/ConfigMap` are the ones the admission
    webhook and policies know how to judge. Empty by default: a template can only make PVCs and pods until an admin
    opts in, and its RBAC must allow the kinds too."""

    pvc_retention: Literal["keep", "delete"] = "keep"
    """`keep`: PVCs outlive their instance, so a user gets the same workspace back on the next start (no owner
    reference). `delete`: PVCs are owned by the instance and garbage-collected with it."""

    resync_seconds: float = 300.0
    """Seconds between full re-checks of every instance, on top of watch events; a safety net, not the main path."""

    workers: int = 20
    """Instances reconciled at the same time. Each reconcile is a few API calls, so 20 keeps the API server busy
    without flooding it during a spawn storm."""

    api_connections: int | None = Field(default=None, ge=1)
    """Connections to the API server kept open. Unset: half the workers, at least 10 (requests are short, so 10 carry
    20 workers; more cost CPU, since the HTTP client looks at every open connection for each request)."""

    retry_base_seconds: float = 1.0
    """First delay before retrying an instance after a temporary error (API error, quota); doubles each time."""

    retry_max_seconds: float = 300.0
    """Longest delay between retries of one instance."""

    waiting_requeue_seconds: float = 2.0
    """How soon to look again when waiting for something no event will announce (a terminating old pod)."""

    status_settle_seconds: float = 1.0
    """How long a status change on the way to Ready may wait, to be written together with the next one: in a spawn
    storm most instances then get one status write instead of two. After a start's first progress write, further
    progress waits 8 times this (in a storm, a start waits several seconds for the scheduler and its volume, each step
    otherwise a write of its own). Ready, a failure or a problem is written at once. The spawn page's progress messages
    may show up to this much later (the first) or 8 times this (the later ones). 0 writes every change at once."""

    sealing_key_file: Path | None = None
    """P-256 EC private key (PEM) that opens the variables the spawner seals (such as the hub's API token). Unset: an
    instance with sealed variables is refused with a message saying so."""

    public_key_configmap: str = ""
    """`namespace/name` of a ConfigMap (made by the chart, empty) into which every replica writes the sealing public
    key as `sealing.pub` at start-up, for the hub to mount. Empty: not published (give the hub the key yourself)."""
    leader_election: bool = True
    """Only one replica acts at a time, holding a Lease; the others wait to take over."""

    lease_namespace: str = "jupyternetes"
    """Namespace of the leader-election Lease (the operator's own namespace)."""

    lease_name: str = "jupyternetes-operator"
    """Name of the leader-election Lease; RBAC grants updates to this name only."""

    lease_duration_seconds: float = 15.0
    """How long a leader's lease is valid without renewal: a standby takes over at most this long after a crash."""

    lease_renew_seconds: float = 5.0
    """How often the leader renews its lease."""

    identity: str = ""
    """This replica's name in the Lease; empty means the host name (the pod name in a cluster)."""

    log_format: Literal["text", "json"] = "text"
    """How the component's ordinary log lines are written: `text` (time, level, logger, message; one line each) or
    `json` (one object per line: timestamp, level, logger, message, exception). Decision and provisioning records
    are JSON either way (docs/audit.md)."""

    metrics_port: int = 8080
    """Port of the Prometheus /metrics endpoint; 0 turns it off."""

    health_port: int = 8081
    """Port of the /healthz liveness and /readyz readiness endpoints (/readyz names any watch that failed, such as
    a 403 after an RBAC change); 0 turns them off."""

    @field_validator("allowed_kinds")
    @classmethod
    def _kinds_have_api_version(cls, kinds: list[str]) -> list[str]:
        for kind in kinds:
            if "/" not in kind or kind.endswith("/"):
                raise ValueError(f"allowed kind {kind!r} must be apiVersion/Kind, for example v1/Service")
            if kind in ("v1/Pod", "v1/PersistentVolumeClaim"):
                raise ValueError(f"{kind} belongs in the template's pods or pvcs, not in otherResources")
            if kind not in JUDGED_OTHER_KINDS:
                raise ValueError(f"allowed kind {kind} cannot be judged by the admission webhook and policies, so the "
                                 f"operator will not create it; use {' or '.join(JUDGED_OTHER_KINDS)}")
        return kinds

    @field_validator("public_key_configmap")
    @classmethod
    def _namespaced_name(cls, value: str) -> str:
        if value and (value.count("/") != 1 or value.startswith("/") or value.endswith("/")):
            raise ValueError(f"public_key_configmap {value!r} must be namespace/name, for example jupyterhub/sealing")
        return value

    @model_validator(mode="after")
    def _lease_timing(self) -> OperatorSettings:
        if self.leader_election and self.lease_renew_seconds * 2 > self.lease_duration_seconds:
            raise ValueError(
                "lease_renew_seconds must be at most half of lease_duration_seconds, or a slow renewal loses the lease"
            )
        if self.public_key_configmap and not self.sealing_key_file:
            raise ValueError("public_key_configmap publishes the key in sealing_key_file; set sealing_key_file too")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        return self

    def template_namespace_allowed(self, instance_namespace: str, template_namespace: str) -> bool:
        """Whether an instance in `instance_namespace` may use a template in `template_namespace`."""
        return models.template_namespace_allowed(instance_namespace, template_namespace, self.template_namespace)

    def connections(self) -> int:
        """`api_connections`, or its default for the number of workers."""
        return self.api_connections or max(10, self.workers // 2)

    def watched_namespaces(self) -> list[str]:
        """Namespaces to watch, including the template namespace; empty means cluster-wide."""
        if not self.namespaces:
            return []
        extra = [self.template_namespace] if self.template_namespace else []
        return sorted(set(self.namespaces) | set(extra))
