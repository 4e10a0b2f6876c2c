"""The webhook's one settings object. Every field can be set from the environment, prefixed `JUPYTERNETES_WEBHOOK_`
(lists as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from jupyternetes import models
from jupyternetes.eventloop import EventLoop


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUPYTERNETES_WEBHOOK_", extra="forbid")

    kubeconfig: Path | None = None
    """Kubeconfig to use; unset means the pod's service account (or $KUBECONFIG outside a pod)."""

    host: str = "0.0.0.0"  # noqa: S104 - a webhook must be reachable by the API server
    """Address to listen on."""

    port: int = 8443
    """HTTPS port that the API server calls."""

    tls_cert_file: Path | None = None
    """Serving certificate (for example from cert-manager). Unset: the webhook manages its own CA and certificate."""

    tls_key_file: Path | None = None
    """Private key of `tls_cert_file`."""

    insecure_http: bool = False
    """Serve plain HTTP. Only for `jupyternetes policy` experiments on a laptop; refused unless `development`."""

    development: bool = False
    """Allow unsafe settings (plain HTTP, an empty image allowlist in enforce mode). Never in a cluster."""

    namespace: str = "jupyternetes"
    """The webhook's own namespace: home of its certificate Secret; never judged by the webhook."""

    service_name: str = "jupyternetes-webhook"
    """Service that fronts the webhook; the serving certificate is issued for its DNS names."""

    service_url: str = ""
    """Call the webhook by URL instead of by Service (the local control plane: https://127.0.0.1:<port>)."""

    certificate_secret: str = "jupyternetes-webhook-tls"
    """Secret that holds the self-managed CA and serving certificate, shared by every replica."""

    configuration_name: str = "jupyternetes-webhook"
    """Name of the Validating- and MutatingWebhookConfiguration whose caBundle the webhook keeps current."""

    manage_configurations: bool = True
    """Keep the caBundle of both webhook configurations current with the self-managed CA (at start-up, after each
    rotation, and on every check). The configurations themselves come from the chart or `dev up`. Off when
    cert-manager injects the CA."""

    certificate_days: float = 365.0
    """Validity of a self-managed CA and serving certificate, in days."""

    rotate_before_days: float = 30.0
    """Rotate the self-managed certificate this many days before it expires."""

    check_interval_seconds: float = 60.0
    """How often replicas re-read the certificate Secret and check for rotation."""

    policy_dir: Path = Path("policies")
    """Directory of Rego policies and their data files (data.yaml), shared with OPA."""

    opa_url: str = "http://127.0.0.1:8181"
    """The OPA server beside the webhook."""

    policy_engine: Literal["opa", "none"] = "opa"
    """`opa`: ask OPA. `none`: the built-in floor alone, for benchmarks and experiments; refused unless
    `development`, since it switches every Rego policy off."""

    opa_timeout_seconds: float = 2.0
    """Longest wait for OPA; an answer that takes longer is a denial (fail closed)."""

    instance_creators: list[str] = Field(default_factory=lambda: ["system:serviceaccount:jupyterhub:hub"])
    """Users (or `group:<name>`) who may create JupyterNotebookInstances: by default only the hub's service account."""

    operator_user: str = "system:serviceaccount:jupyternetes:jupyternetes-operator"
    """The operator's identity: the only one that may create pods and PVCs carrying Jupyternetes labels."""

    component_service_accounts: list[str] = Field(
        default_factory=lambda: ["hub", "jupyternetes-operator", "jupyternetes-webhook"])
    """Service-account names of JupyterHub and the Jupyternetes components: no notebook pod may run as one of them,
    whatever the policy data says."""

    template_namespace: str = ""
    """Shared template namespace an instance may use besides its own (the operator's setting of the same name)."""

    exempt_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    """Namespaces the webhook configurations leave alone (its own namespace is always exempt)."""

    timeout_seconds: int = 5
    """Timeout the API server gives each webhook call (the configurations' timeoutSeconds)."""

    watch_failure_seconds: float = 30.0
    """How long the instance or template watch may fail without a success (a 403 after an RBAC change, an
    unreachable API server) before /readyz reports the webhook not ready, naming the watch and its error. A brief
    hiccup does not take the webhook out of its Service; each failure is logged and counted at once
    (jupyternetes_webhook_watch_failures_total)."""

    event_loop: EventLoop = "uvloop"
    """The event loop: `uvloop` (libuv's; a fifth to a quarter less CPU per review than asyncio's in
    docs/benchmarks.md) or `asyncio` (the standard library's)."""

    log_format: Literal["text", "json"] = "text"
    """How the component's ordinary log lines are written: `text` (time, level, logger, message; one line each) or
    `json` (one object per line: timestamp, level, logger, message, exception). Decision and provisioning records
    are JSON either way (docs/audit.md)."""

    audit_interval_seconds: float = 300.0
    """How often every stored template and instance is judged again against the policies (docs/audit.md), in
    seconds; also once as soon as the caches are filled after start, so a policy change shows at its rollout. 0 turns
    the periodic audit off. Five minutes: a new violation can only come from a policy change (which restarts the
    webhook) or a template changed under a running instance, and each audit is one policy query per object."""

    @model_validator(mode="after")
    def _safe(self) -> WebhookSettings:
        if self.policy_engine == "none" and not self.development:
            raise ValueError("policy_engine none switches every Rego policy off; it needs development: true")
        if self.insecure_http and not self.development:
            raise ValueError("insecure_http serves admission reviews in plain text; it needs development: true")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together; set both or neither")
        if self.rotate_before_days >= self.certificate_days:
            raise ValueError("rotate_before_days must be shorter than certificate_days")
        if self.audit_interval_seconds < 0:
            raise ValueError("audit_interval_seconds must be 0 (off) or more")
        if not 1 <= self.timeout_seconds <= 30:
            raise ValueError("timeout_seconds must be between 1 and 30 (the API server's limit)")
        return self

    def unjudged_namespaces(self) -> frozenset[str]:
        """The namespaces the webhook configurations leave alone: the exempt ones and the webhook's own."""
        return frozenset({*self.exempt_namespaces, self.namespace})

    def may_create_instances(self, username: str, groups: list[str]) -> bool:
        return username in self.instance_creators or any(f"group:{g}" in self.instance_creators for g in groups)

    def template_namespace_allowed(self, instance_namespace: str, template_namespace: str) -> bool:
        """Whether an instance in `instance_namespace` may use a template in `template_namespace`."""
        return models.template_namespace_allowed(instance_namespace, template_namespace, self.template_namespace)
