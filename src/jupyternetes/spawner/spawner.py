"""JupyternetesSpawner: a JupyterHub spawner that can only create, read and delete JupyterNotebookInstances.

The hub never creates a pod, never reads a Secret, never sees a template. It asks for an instance of a template
(chosen by configuration or by the user's profile) with the user's variables, waits on one shared watch until the
operator reports the instance Ready, and hands JupyterHub the pod's address. Secret values (the server's API token)
are sealed to the operator's public key before they leave the hub.
"""

from __future__ import annotations

import asyncio
import datetime
import html
import ipaddress
import json
import math
import random
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar, cast

from jupyterhub.spawner import Spawner
from tornado import web
from traitlets import Bool, Dict, Float, List, TraitError, Unicode, default, validate

from jupyternetes import constants, entitlements, kube, models, naming, policydata, sealing, sessions
from jupyternetes.spawner import privileges, profiles
from jupyternetes.spawner.watcher import InstanceWatcher

T = TypeVar("T")

#: Where the shipped hub page templates are: `c.JupyterHub.template_paths = [TEMPLATES]` shows users why their
#: server stopped (the session limit, for example) on the "server not running" page.
TEMPLATES: Final = str(Path(__file__).parent / "templates")
#: The longest `api_retry_seconds` (and the longest pause an API server's Retry-After may ask for).
MAX_API_RETRY_SECONDS: Final = 300.0
#: The key of the entitlements ConfigMap that holds the rules (a JSON list, policy data `entitlements.rules`).
ENTITLEMENTS_KEY: Final = "rules.json"

#: Progress reported on the spawn page as the operator reaches each step.
PROGRESS_CREATED = 10
PROGRESS_PVCS = 30
PROGRESS_POD = 60
PROGRESS_RUNNING = 90


class SpawnError(Exception):
    """Why the server did not start; `jupyterhub_message` is what the user reads on the spawn page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.jupyterhub_message = message


def may_pass_if_asked_again(error: kube.ApiError) -> bool:
    """Whether the same request may pass if asked again: the API server could not be reached (but not because its
    certificate was refused), or it answered that it is busy or failing. A webhook's denial passes only when it said
    it could not decide (503, its policy engine silent) or is busy (429): one that failed inside (500) would fail
    the same way each time."""
    if not kube.transient(error):
        return False
    if isinstance(error, kube.Unreachable):
        return error.reason != kube.UNTRUSTED
    return not (error.message.startswith("admission webhook") and error.status not in (429, 503))


def retry_pause(error: kube.ApiError, pause: float) -> float:
    """How long to wait before asking again: a random share of `pause` (from half to all of it), so that starts
    refused at the same moment do not all ask again at the same moment, and at least what a 429 asks for
    (`details.retryAfterSeconds`, as API Priority and Fairness sends it)."""
    wait = random.uniform(pause / 2, pause)
    details = error.body.get("details") if isinstance(error.body, dict) else None
    if error.status == 429 and isinstance(details, dict):
        asked = details.get("retryAfterSeconds")
        if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > 0:
            wait = max(wait, min(float(asked), MAX_API_RETRY_SECONDS))
    return wait


def _condition(instance: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    conditions = ((instance or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), {})


def _current(instance: dict[str, Any] | None) -> bool:
    """Whether the operator has reported on this generation of the instance."""
    if instance is None:
        return True
    status = instance.get("status") or {}
    return status.get("observedGeneration") == instance["metadata"].get("generation")


#: Pod reasons that will not resolve by waiting, in words for the user: the start fails at once with them.
WONT_RESOLVE: Final = {
    "ImagePullBackOff": "its image cannot be pulled",
    "InvalidImageName": "its image name is not valid",
    "ErrImageNeverPull": "its image is not on the node and may not be pulled",
    "CrashLoopBackOff": "it keeps crashing",
    "OOMKilled": "it ran out of memory",
}


def stuck(instance: dict[str, Any] | None) -> tuple[str, str] | None:
    """(reason, message) of a pod of the instance that will not start however long we wait, or None."""
    for state in (((instance or {}).get("status") or {}).get("pods") or {}).values():
        if state.get("reason") in WONT_RESOLVE and state.get("state") != models.STATE_RUNNING:
            return str(state["reason"]), str(state.get("errorMessage") or "")
    return None


def is_ready(instance: dict[str, Any] | None) -> bool:
    return instance is not None and _current(instance) and _condition(instance, "Ready").get("status") == "True"


def has_failed(instance: dict[str, Any] | None) -> bool:
    """Degraded and no longer progressing: the operator has given up (or the instance is gone)."""
    if instance is None:
        return True
    return (_current(instance) and _condition(instance, "Degraded").get("status") == "True"
            and _condition(instance, "Progressing").get("status") == "False")


def server_url(instance: dict[str, Any], networks: list[str] | None = None) -> str:
    """The notebook server's URL from the instance status: the first pod with an IP and a port.

    The status is the operator's word; the hub's proxy will send users' requests there. An address that is no pod
    address at all (link-local, such as a cloud's metadata service, unspecified, multicast, or loopback unless
    `networks` names it), in any spelling (an IPv4 address mapped into IPv6 is judged as the IPv4 one), or one
    outside `networks` when given, is refused."""
    for state in ((instance.get("status") or {}).get("pods") or {}).values():
        if state.get("podIP") and state.get("port"):
            ip, port = str(state["podIP"]), state["port"]
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                raise SpawnError(f"the notebook server reports {ip!r} as its address, which is not an IP address; "
                                 "ask your administrator") from None
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            inside = [n for n in networks or [] if address in ipaddress.ip_network(n, strict=False)]
            if address.is_link_local or address.is_unspecified or address.is_multicast \
                    or (address.is_loopback and not inside) or (networks and not inside) \
                    or not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise SpawnError(f"the notebook server reports {ip}:{port} as its address, which is not where "
                                 "notebook servers run; ask your administrator")
            host = f"[{ip}]" if ":" in ip else ip
            return f"http://{host}:{port}"
    raise SpawnError("the notebook server is ready but reports no address; ask your administrator to check the "
                     "template's container ports")


class JupyternetesSpawner(Spawner):  # type: ignore[misc]
    """Spawn notebook servers as JupyterNotebookInstances, rendered and checked by Jupyternetes."""

    _clients: ClassVar[dict[str, kube.AsyncKube]] = {}
    #: (kubeconfig, namespace, ConfigMap) -> (when read (monotonic), the entitlement rules, None if not published).
    _entitlements: ClassVar[dict[tuple[str, str, str], tuple[float, list[dict[str, Any]] | None]]] = {}
    #: (kubeconfig, namespace) -> when the hub's permissions there were last found narrow enough (monotonic).
    _narrow: ClassVar[dict[tuple[str, str], float]] = {}
    #: Reads in flight, by what they read: a class pressing Start at once makes one, not one per spawn.
    _inflight: ClassVar[dict[tuple[str, ...], asyncio.Future[Any]]] = {}

    kubeconfig = Unicode(
        "",
        help="""Kubeconfig for the hub's own identity. Empty: the pod's service account (in a cluster), else
        $KUBECONFIG. `c.JupyternetesSpawner.kubeconfig = "/etc/jupyternetes/kubeconfig-hub"`""",
    ).tag(config=True)

    namespace = Unicode(
        help="""Namespace to create instances in (the hub's RBAC allows only this one). Default: the hub pod's own
        namespace, else `default`. `c.JupyternetesSpawner.namespace = "jupyterhub"`""",
    ).tag(config=True)

    @default("namespace")
    def _namespace_default(self) -> str:
        path = kube.IN_CLUSTER_DIR / "namespace"
        return path.read_text().strip() if path.exists() else "default"

    hub_namespace = Unicode(
        help="""Value of the `jupyterhub.namespace` variable (templates use it for the hub's Service address).
        Default: `namespace`. `c.JupyternetesSpawner.hub_namespace = "jupyterhub"`""",
    ).tag(config=True)

    @default("hub_namespace")
    def _hub_namespace_default(self) -> str:
        return str(self.namespace)

    template = Unicode(
        "default-template",
        help="""Template for servers when there is no profile_list. `c.JupyternetesSpawner.template = "notebook"`""",
    ).tag(config=True)

    template_namespace = Unicode(
        "",
        help="""Namespace of `template`; empty means the instances' namespace.
        `c.JupyternetesSpawner.template_namespace = "kadense"`""",
    ).tag(config=True)

    profile_list = List(
        Dict(),
        help="""Choices offered on the spawn page, each mapped to a template, as with KubeSpawner:
        `c.JupyternetesSpawner.profile_list = [{"display_name": "Data science", "slug": "datascience",
        "description": "Python with pandas", "template": "datascience", "template_namespace": "kadense",
        "default": True, "variables": {"course": "stats101"}}]`""",
    ).tag(config=True)

    @validate("profile_list")
    def _validate_profiles(self, proposal: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            profiles.validate(proposal["value"])
        except ValueError as error:
            raise TraitError(f"c.JupyternetesSpawner.profile_list: {error}") from None
        return list(proposal["value"])

    variables = Dict(
        {},
        help="""Extra variables for every instance (strings). `c.JupyternetesSpawner.variables = {"course": "x"}`""",
    ).tag(config=True)

    name_prefix = Unicode(
        "jupyter",
        help="""Instances are named `<prefix>-<user>` (and `--<server>` for named servers), made DNS-safe with a
        hash where needed. `c.JupyternetesSpawner.name_prefix = "jupyter"`""",
    ).tag(config=True)

    operator_public_key = Unicode(
        "",
        help="""The operator's P-256 public key (PEM text, or a path to it). The API token and the environment
        variables in `sealed_env` are sealed to it, so nothing that can read instances can read them. Required.
        `c.JupyternetesSpawner.operator_public_key = "/etc/jupyternetes/operator-sealing.pub"`""",
    ).tag(config=True)

    sealed_env = List(
        Unicode(),
        ["JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"],
        help="""Environment variables from `get_env()` that are secrets and so are sent sealed.
        `c.JupyternetesSpawner.sealed_env = ["JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"]`""",
    ).tag(config=True)

    server_networks = List(
        Unicode(),
        [],
        help="""Networks (CIDRs) that notebook servers' pod addresses come from. The hub's proxy sends users to the
        address the instance's status reports; set this to the cluster's pod network so that a status naming any
        other address is refused. Empty: any address but link-local and unspecified ones.
        `c.JupyternetesSpawner.server_networks = ["10.244.0.0/16"]`""",
    ).tag(config=True)

    @validate("server_networks")
    def _validate_networks(self, proposal: dict[str, Any]) -> list[str]:
        for network in proposal["value"]:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise TraitError(f"c.JupyternetesSpawner.server_networks: {network!r} is not a CIDR") from None
        return list(proposal["value"])

    refuse_wide_rbac = Bool(
        True,
        help="""Refuse to start servers while the hub's own Kubernetes identity may read Secrets, create pods, exec
        into them or mint tokens in `namespace` (for example with Zero to JupyterHub's default RBAC): whoever breaks
        into the hub could then read every server's API token. Set `rbac.create: false` in Zero to JupyterHub.
        `c.JupyternetesSpawner.refuse_wide_rbac = True`""",
    ).tag(config=True)

    privileges_recheck_seconds = Float(
        60.0,
        help="""How long a finding that the hub's permissions are narrow enough holds before `refuse_wide_rbac` asks
        the API server again (it asks on the next start after that).
        `c.JupyternetesSpawner.privileges_recheck_seconds = 60`""",
    ).tag(config=True)

    api_retry_seconds = Float(
        30.0,
        help="""How long, from its first failure, a read the start depends on (the hub's permissions, the
        entitlements) and the creation of the instance are tried again, with a growing pause, when the API server
        cannot be reached or answers that it is busy or failing (429 or 5xx), before the start is refused. Under a
        large start, one such answer would otherwise refuse every start waiting on the same read. Zero: refuse at the
        first. At most 300.
        `c.JupyternetesSpawner.api_retry_seconds = 30`""",
    ).tag(config=True)

    @validate("api_retry_seconds")
    def _valid_retry_seconds(self, proposal: dict[str, Any]) -> float:
        value = float(proposal["value"])
        if not (math.isfinite(value) and 0 <= value <= MAX_API_RETRY_SECONDS):
            raise TraitError(f"c.JupyternetesSpawner.api_retry_seconds must be from 0 to {MAX_API_RETRY_SECONDS:g} "
                             f"seconds, not {value!r}: it is how long a start keeps asking a failing API server")
        return value

    entitlements_configmap = Unicode(
        "jupyternetes-entitlements",
        help="""ConfigMap in `namespace` with the security officers' entitlements (which users and groups may use
        which templates; the chart publishes it from the policy data). The spawn page offers each user only the
        profiles they are entitled to, and a start of any other is refused before anything is created. The webhook
        enforces the same rules whatever the hub does. Missing ConfigMap: every profile is offered and the webhook
        alone decides. Empty: do not read it. `c.JupyternetesSpawner.entitlements_configmap =
        "jupyternetes-entitlements"`""",
    ).tag(config=True)

    entitlements_recheck_seconds = Float(
        30.0,
        help="""How long the entitlements read from `entitlements_configmap` are used before they are read again.
        `c.JupyternetesSpawner.entitlements_recheck_seconds = 30`""",
    ).tag(config=True)

    @default("options_form")
    def _options_form_default(self) -> Any:
        return _entitled_options_form if self.profile_list else ""

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        return profiles.from_form(formdata)

    @default("apply_user_options")
    def _apply_user_options_default(self) -> Any:
        return _check_user_options

    # State -------------------------------------------------------------------------------------------------

    instance_name = Unicode("")
    instance_namespace = Unicode("")
    #: The uid of the instance this spawner created: it only ever deletes that very object.
    instance_uid = Unicode("")
    #: The instance's create while it runs (it runs on if the start is cancelled; `poll` waits for it).
    _creating: asyncio.Future[dict[str, Any]] | None = None
    #: Why the last server stopped on its own (its session limit, a crash), in words for the user; kept in the hub's
    #: database through the stop, shown on the "server not running" page and the spawn page, cleared by a start.
    stop_reason = Unicode("")

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.instance_name = state.get("instance_name", "")
        self.instance_namespace = state.get("instance_namespace", "")
        self.instance_uid = state.get("instance_uid", "")
        self.stop_reason = state.get("stop_reason", "")

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.instance_name:
            state["instance_name"] = self.instance_name
            state["instance_namespace"] = self.instance_namespace
            if self.instance_uid:
                state["instance_uid"] = self.instance_uid
        if self.stop_reason:
            state["stop_reason"] = self.stop_reason
        return state

    def clear_state(self) -> None:
        """Forget the instance (it is gone); `stop_reason` stays, to be shown to the user."""
        super().clear_state()
        self.instance_name = ""
        self.instance_namespace = ""
        self.instance_uid = ""

    # Helpers -----------------------------------------------------------------------------------------------

    def _api(self) -> kube.AsyncKube:
        key = self.kubeconfig or "<default>"
        client = self._clients.get(key)
        if client is None:
            config = kube.KubeConfig.load(self.kubeconfig or None)
            # Few connections: each request is short, and the HTTP client looks at every open connection for each.
            client = self._clients[key] = kube.AsyncKube(config, max_connections=10)
        return client

    @classmethod
    async def _shared(cls, key: tuple[str, ...], read: Callable[[], Awaitable[T]]) -> T:
        """`read()`, once for every caller that asks for `key` while it runs (they all get its answer or its
        error); a caller that gives up does not stop it for the others."""
        future = cls._inflight.get(key)
        if future is not None and future.get_loop() is not asyncio.get_running_loop():
            future = None  # left by another event loop (one per test); never awaited across loops
        if future is None:
            future = cls._inflight[key] = asyncio.ensure_future(read())
            future.add_done_callback(lambda done: cls._inflight.pop(key, None) if cls._inflight.get(key) is done
                                     else None)
        return cast(T, await asyncio.shield(future))

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`, asked again for up to `api_retry_seconds` after its first failure while it fails in a way that
        may pass (the API server unreachable, or answering 429 or 5xx); any other error, or the last, is raised. The
        time counts from the first failure, not the first try: a try that used up the client's own timeout (30 s,
        as much as the default here) is still asked again."""
        deadline: float | None = None
        pause = 0.5
        while True:
            try:
                return await call()
            except kube.ApiError as error:
                if deadline is None:
                    deadline = time.monotonic() + self.api_retry_seconds
                wait = retry_pause(error, pause)
                if not may_pass_if_asked_again(error) or time.monotonic() + wait > deadline:
                    raise
                self.log.warning("%s failed, trying again in %.1f s: %s", what, wait, error)
            await asyncio.sleep(wait)
            pause = min(pause * 2, 8.0)

    def _watcher(self) -> InstanceWatcher:
        return InstanceWatcher.shared(self._api(), self.instance_namespace or self.namespace)

    def _public_key(self) -> Any:
        text = self.operator_public_key.strip()
        if not text:
            raise SpawnError("this hub is not set up to start servers: c.JupyternetesSpawner.operator_public_key is "
                             "not configured (the API token is never sent in plain text); ask your administrator")
        pem = text.encode() if text.startswith("-----BEGIN") else Path(text).read_bytes()
        return sealing.load_public_key(pem)

    def _profile(self) -> dict[str, Any]:
        if not self.profile_list:
            return {"template": self.template, "template_namespace": self.template_namespace, "variables": {}}
        try:
            return dict(profiles.choose(self.profile_list, (self.user_options or {}).get("profile")))
        except profiles.ProfileError as error:
            raise SpawnError(str(error)) from None

    def _group_names(self) -> list[str]:
        return sorted(str(getattr(group, "name", group)) for group in getattr(self.user, "groups", None) or [])

    async def _entitlement_rules(self) -> list[dict[str, Any]] | None:
        """The entitlement rules from `entitlements_configmap` (read at most every `entitlements_recheck_seconds`);
        None when there is none to read. A ConfigMap that cannot be read or does not hold rules refuses the start:
        the hub does not guess who may use what."""
        if not self.entitlements_configmap:
            return None
        key = (self.kubeconfig or "<default>", self.namespace, self.entitlements_configmap)
        cached = self._entitlements.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.entitlements_recheck_seconds:
            return cached[1]
        where = f"ConfigMap {self.namespace}/{self.entitlements_configmap}"
        try:
            body = await self._shared(("entitlements", *key), lambda: self._retrying(
                f"reading the entitlements in {where}", lambda: self._api().get(
                    kube.CONFIG_MAP, self.entitlements_configmap, self.namespace)))
        except kube.NotFound:
            rules = None
        except kube.ApiError as error:
            self.log.error("cannot read the entitlements in %s: %s", where, error)
            raise SpawnError("This hub cannot tell which servers you may start (it cannot read its entitlements). "
                             "Ask your administrator.") from None
        else:
            try:
                loaded = json.loads((body.get("data") or {})[ENTITLEMENTS_KEY])
                # The policy data's own shape: anyone who may write ConfigMaps there could otherwise break the page.
                problems = policydata.problems({"entitlements": {"rules": loaded}})
                if problems:
                    raise ValueError("; ".join(problems))
                rules = list(loaded)
            except (KeyError, ValueError) as error:
                self.log.error("the entitlements in %s are not readable (%s: %s)", where, ENTITLEMENTS_KEY, error)
                raise SpawnError("This hub cannot tell which servers you may start (its entitlements are not "
                                 "readable). Ask your administrator.") from None
        self._entitlements[key] = (time.monotonic(), rules)
        return rules

    def _is_entitled(self, rules: list[dict[str, Any]] | None, profile: dict[str, Any]) -> bool:
        if rules is None:
            return True
        return entitlements.entitled(rules, profile.get("template_namespace") or self.namespace, profile["template"],
                                     self.user.name, self._group_names())

    async def entitled_profiles(self) -> list[dict[str, Any]]:
        """The profiles this user may start (all of them when no entitlements are published)."""
        rules = await self._entitlement_rules()
        return [dict(p) for p in self.profile_list if self._is_entitled(rules, dict(p))]

    async def entitled_profile(self) -> dict[str, Any]:
        """The profile to start: the one chosen in `user_options` (or the default), if this user is entitled to it;
        `SpawnError` with a message for the user otherwise."""
        rules = await self._entitlement_rules()
        if not self.profile_list:
            profile = self._profile()
            if not self._is_entitled(rules, profile):
                raise SpawnError("Your server could not start: " + entitlements.refusal(
                    rules or [], profile.get("template_namespace") or self.namespace, profile["template"],
                    self.user.name))
            return profile
        offered = [dict(p) for p in self.profile_list if self._is_entitled(rules, dict(p))]
        slug = (self.user_options or {}).get("profile")
        if slug is not None and not isinstance(slug, str):
            raise SpawnError(f"the profile must be a name, not {type(slug).__name__}")
        if slug and any(p["slug"] == slug for p in self.profile_list) and not any(p["slug"] == slug for p in offered):
            raise SpawnError(f"you are not entitled to the profile {slug!r}; ask a security officer for access")
        if not offered:
            raise SpawnError("no server types are available to you; ask a security officer for access")
        try:
            return dict(profiles.choose(offered, slug))
        except profiles.ProfileError as error:
            raise SpawnError(str(error)) from None

    def groups_to_send(self, rules: list[dict[str, Any]] | None) -> list[str]:
        """The user's groups that the entitlements name (all of them when none are published): a user in hundreds of
        groups must not exceed the variables' length limit with groups no rule reads."""
        groups = self._group_names()
        if rules is None:
            return groups
        named = {group for rule in rules for group in rule.get("groups") or []}
        return [group for group in groups if group in named]

    def build_instance(self, name: str, namespace: str, profile: dict[str, Any] | None = None,
                       groups: list[str] | None = None) -> dict[str, Any]:
        """The instance to create: template reference, plain variables, sealed variables. `profile` is the one
        chosen (see `entitled_profile`); None takes the configured choice without asking about entitlements.
        `groups`: the user's groups to send (see `groups_to_send`; None: all of them)."""
        profile = profile if profile is not None else self._profile()
        plain: dict[str, str] = {
            entitlements.GROUPS_VARIABLE: json.dumps(groups if groups is not None else self._group_names()),
            "jupyterhub.user.name": self.user.name,
            "jupyterhub.user.id": str(self.user.id),
            "jupyterhub.namespace": self.hub_namespace,
            "jupyterhub.oauth_client_id": self.oauth_client_id,
            "jupyterhub.server.name": self.name or "",
            "jupyterhub.args": shlex.join(self.get_args()),
            constants.VAR_INSTANCE_NAME: name,
            constants.VAR_INSTANCE_NAMESPACE: namespace,
        }
        secrets: dict[str, str] = {"jupyterhub.api_token": self.api_token}
        for key, value in self.get_env().items():
            target = secrets if key in self.sealed_env else plain
            target[constants.ENV_VARIABLE_PREFIX + key] = str(value)
        plain.update({str(k): str(v) for k, v in {**self.variables, **(profile.get("variables") or {})}.items()})
        template = {"name": profile["template"]}
        if profile.get("template_namespace"):
            template["namespace"] = profile["template_namespace"]
        bound_to = sealing.binding(namespace=namespace, instance=name, template_name=template["name"],
                                   template_namespace=template.get("namespace", namespace), variables=plain)
        sealed = sealing.seal_instance(self._public_key(), secrets, bound_to=bound_to)
        return {
            "apiVersion": constants.API_VERSION,
            "kind": constants.INSTANCE_KIND,
            "metadata": {"name": name, "namespace": namespace, "labels": {
                "hub.jupyter.org/username": naming.label_value(self.user.name),
                "hub.jupyter.org/servername": naming.label_value(self.name or ""),
            }},
            "spec": {"template": template, "variables": plain, "sealedVariables": sealed},
        }

    def _failure(self, instance: dict[str, Any] | None) -> SpawnError:
        if instance is None:
            return SpawnError("your server's instance was deleted while it was starting")
        degraded = _condition(instance, "Degraded")
        reason = degraded.get("reason", "")
        message = degraded.get("message") or _condition(instance, "Ready").get("message") or "unknown reason"
        advice = {
            models.REASON_DENIED: "a security policy refused it",
            models.REASON_TEMPLATE_NOT_FOUND: "its template does not exist",
            models.REASON_TEMPLATE_NOT_ALLOWED: "its template is not allowed here",
            models.REASON_QUOTA: "your namespace's quota is used up",
            models.REASON_RENDER_FAILED: "its template could not be filled in",
            models.REASON_POD_FAILED: "the server stopped",
            models.REASON_TEMPLATE_CHANGED:
                "its template changed since it started; start it again to use the new version",
            models.REASON_CLAIM_LOST: "its storage is gone",
        }.get(reason, "it could not be provisioned")
        return SpawnError(f"Your server could not start because {advice}: {message}. If this persists, ask your "
                          "administrator.")

    # The contract ------------------------------------------------------------------------------------------

    async def _check_privileges(self, api: kube.AsyncKube, namespace: str) -> None:
        """Refuse while the hub may do more than Jupyternetes needs (see `privileges`); a good answer is kept."""
        key = (self.kubeconfig or "<default>", namespace)
        checked = self._narrow.get(key)
        if not self.refuse_wide_rbac or (checked is not None and
                                         time.monotonic() - checked < self.privileges_recheck_seconds):
            return
        try:
            wide = await self._shared(("privileges", *key), lambda: self._retrying(
                f"asking the API server what the hub may do in namespace {namespace}",
                lambda: privileges.excess(api, namespace)))
        except kube.ApiError as error:
            self.log.error("cannot ask the API server what the hub may do in namespace %s: %s", namespace, error)
            raise SpawnError("Your server could not start: this hub could not get an answer from Kubernetes about its "
                             "own permissions. Try again in a moment; if this persists, ask your administrator."
                             ) from None
        if wide:
            self.log.error("the hub's Kubernetes identity may %s in namespace %s, which a breached hub could use to "
                           "read servers' tokens; narrow its RBAC (Zero to JupyterHub: rbac.create: false), or set "
                           "c.JupyternetesSpawner.refuse_wide_rbac = False", ", ".join(wide), namespace)
            raise SpawnError("Your server could not start: this hub has more Kubernetes permissions than it may "
                             "safely hold. Ask your administrator.")
        self._narrow[key] = time.monotonic()

    async def start(self) -> str:
        namespace = self.namespace
        name = naming.instance_name(self.user.name, self.name or "", self.name_prefix)
        self.stop_reason = ""
        profile = await self.entitled_profile()
        body = self.build_instance(name, namespace, profile, self.groups_to_send(await self._entitlement_rules()))
        api = self._api()
        await self._check_privileges(api, namespace)
        watcher = InstanceWatcher.shared(api, namespace)
        # From here the name is this server's to stop: a start cancelled (JupyterHub's start_timeout) while its
        # create is in flight may still have made the instance, and JupyterHub then stops the server. `stop` finds
        # it by name and deletes it only if it is this very server's (another's is never touched).
        self.instance_name, self.instance_namespace, self.instance_uid = name, namespace, ""
        began = time.monotonic()
        # The create runs on if the start is cancelled, so that `poll` can wait for its outcome (see `poll`).
        self._creating = asyncio.ensure_future(self._retrying(f"creating instance {namespace}/{name}",
                                                              lambda: api.create(body)))
        self._creating.add_done_callback(lambda done: done.cancelled() or done.exception())  # read here or below
        try:
            try:
                created = await asyncio.shield(self._creating)
            except kube.Conflict:
                # A create asked again may meet its own first try, whose answer was lost: then it is this start's
                # (the same spec, sealed values and all, which are new for every start) and is kept.
                created = await self._own_first_try(api, name, namespace, body)
                if created is None:
                    # Left over from a spawn that did not finish (or a hub that crashed): it holds an old token. It
                    # is replaced only if it is this very server's; another's is never touched.
                    leftover = await self._leftover_of_ours(api, name, namespace)
                    if leftover:
                        self.log.info("replacing leftover instance %s/%s", namespace, name)
                        await self._delete_and_wait(name, namespace, leftover, timeout=self.start_timeout)
                    created = await api.create(body)
        except kube.Forbidden as error:
            raise SpawnError(f"Your server could not start: {error.message}") from error
        except kube.ApiError as error:
            # What failed (addresses, certificates, a webhook's URL) is for the administrator's log, not the page; a
            # refusal (above) is the admission's own words, written for the user.
            self.log.error("cannot create instance %s/%s for %s: %s", namespace, name, self._log_name, error)
            if may_pass_if_asked_again(error):
                raise SpawnError("Your server could not start: Kubernetes did not take the request (asked for "
                                 f"{time.monotonic() - began:.0f} seconds). Try again in a moment; if this persists, "
                                 "ask your administrator.") from None
            raise SpawnError(f"Your server could not start: Kubernetes refused the request ({error.reason}). Ask "
                             "your administrator.") from None
        uid = created["metadata"]["uid"]
        self.instance_uid = uid
        self.log.info("created instance %s/%s for %s", namespace, name, self._log_name)
        seen = False

        def settled(instance: dict[str, Any] | None) -> bool:
            nonlocal seen
            if instance is None or instance["metadata"].get("uid") != uid:
                return seen  # gone after we saw ours (deleted), or not in the watch's copy yet
            seen = True
            return is_ready(instance) or has_failed(instance) or stuck(instance) is not None

        try:
            instance = await watcher.wait_for(name, settled, self.start_timeout)
        except TimeoutError:
            last = watcher.get(name)
            message = _condition(last, "Ready").get("message") or "no progress reported"
            raise SpawnError(f"Your server did not start within {self.start_timeout} seconds ({message})") from None
        problem = stuck(instance)
        if problem is not None and not is_ready(instance):
            reason, message = problem
            raise SpawnError(f"Your server could not start because {WONT_RESOLVE[reason]}: {message}. If this "
                             "persists, ask your administrator.")
        if instance is None or not is_ready(instance):
            raise self._failure(instance)
        return server_url(instance, self.server_networks)

    async def poll(self) -> int | None:
        if not self.instance_name:
            return 0
        if not self.instance_uid:
            # A start that did not finish (JupyterHub cancelled it, or it failed): its create may have made the
            # instance, which the watch may not show yet. Wait for the create, then ask the API server; an instance
            # of this server's is "running", so that JupyterHub calls `stop`, which deletes it.
            creating = self._creating
            if creating is not None and not creating.done():
                await asyncio.wait([creating], timeout=self.api_retry_seconds + 2 * kube.DEFAULT_TIMEOUT)
            try:
                leftover = await self._leftover_of_ours(self._api(), self.instance_name,
                                                        self.instance_namespace or self.namespace)
            except (SpawnError, kube.ApiError):
                return 1  # another server's (never touched), or not readable now: JupyterHub asks again later
            return None if leftover else 1
        watcher = self._watcher()
        await watcher.synced()
        instance = watcher.get(self.instance_name)
        if instance is None:
            return 1
        pods = list(((instance.get("status") or {}).get("pods") or {}).values())
        states = [s.get("state") for s in pods]
        if models.STATE_FAILED in states or models.STATE_DENIED in states:
            self._stopped(next(s for s in pods if s.get("state") in (models.STATE_FAILED, models.STATE_DENIED)))
            return 1
        if has_failed(instance) and models.STATE_RUNNING not in states:
            # The operator has given up (for example its template changed and a pod is gone).
            self._stopped({"errorMessage": _condition(instance, "Degraded").get("message", "")})
            return 1
        if states and all(s == models.STATE_SUCCEEDED for s in states):
            return 0
        return None

    def _stopped(self, pod: dict[str, Any]) -> None:
        """Record why the server stopped on its own, in words for the user."""
        message = str(pod.get("errorMessage") or "")
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if message.startswith(sessions.DEADLINE_EXCEEDED):
            why = message.removeprefix(f"{sessions.DEADLINE_EXCEEDED}: the server ")
            self.stop_reason = (f"Your server stopped at {when} because it {why}, set by your administrators. "
                                "Your files are kept; start it again to go on.")
        else:
            self.stop_reason = f"Your server stopped at {when}: {message or 'it exited'}."
        self.log.info("server of %s stopped: %s", self._log_name, message or "exited")

    async def stop(self, now: bool = False) -> None:
        if not self.instance_name:
            return
        namespace = self.instance_namespace or self.namespace
        try:
            uid = self.instance_uid or await self._leftover_of_ours(self._api(), self.instance_name, namespace)
        except SpawnError:
            return  # another server's: logged, never touched
        if uid:
            await self._delete_and_wait(self.instance_name, namespace, uid, timeout=0 if now else self.start_timeout)

    async def _own_first_try(self, api: kube.AsyncKube, name: str, namespace: str,
                             body: dict[str, Any]) -> dict[str, Any] | None:
        """The instance of this name if it is the one this start's own create made (its spec is `body`'s, whose
        sealed values were sealed for this start alone), else None."""
        try:
            existing = await api.get(kube.INSTANCE, name, namespace)
        except kube.NotFound:
            return None
        if existing.get("spec") != body["spec"] or (existing.get("metadata") or {}).get("deletionTimestamp"):
            return None
        self.log.info("instance %s/%s was made by this start's first try, whose answer was lost", namespace, name)
        return existing

    async def _leftover_of_ours(self, api: kube.AsyncKube, name: str, namespace: str) -> str:
        """The uid of the instance of this name if it is this very server's (same user, user id and server name);
        "" if there is none; `SpawnError` if it is another's, which is never touched."""
        try:
            existing = await api.get(kube.INSTANCE, name, namespace)
        except kube.NotFound:
            return ""
        variables = (existing.get("spec") or {}).get("variables") or {}
        owner = (variables.get("jupyterhub.user.name"), variables.get("jupyterhub.user.id"),
                 variables.get("jupyterhub.server.name", ""))
        if owner != (self.user.name, str(self.user.id), self.name or ""):
            self.log.error("instance %s/%s for %s is held by another server (user %r, id %r, server %r); not "
                           "touching it", namespace, name, self._log_name, *owner)
            raise SpawnError(f"Your server could not start: its name, {name}, is held by another user's server. "
                             "Ask your administrator.")
        return str(existing["metadata"]["uid"])

    async def _delete_and_wait(self, name: str, namespace: str, uid: str, timeout: float) -> None:
        try:
            await self._api().delete(kube.INSTANCE, name, namespace, uid=uid)
        except (kube.NotFound, kube.Conflict):
            return  # gone, or another object now has the name (the uid precondition refused it)
        if timeout:
            watcher = InstanceWatcher.shared(self._api(), namespace)
            await watcher.wait_for(name, lambda i: i is None, timeout)

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        name = self.instance_name or naming.instance_name(self.user.name, self.name or "", self.name_prefix)
        watcher = self._watcher()
        queue = watcher.subscribe(name)
        seen: set[str] = set()
        furthest = 0
        try:
            current = watcher.get(name)
            while True:
                updates, furthest = _new_progress(_progress_messages(name, current), seen, furthest)
                for update in updates:
                    yield update
                if is_ready(current) or (current is not None and (has_failed(current) or stuck(current))):
                    return
                current = await queue.get()
        finally:
            watcher.unsubscribe(name, queue)

    @property
    def _log_name(self) -> str:
        return f"{self.user.name}/{self.name}" if self.name else str(self.user.name)


def _new_progress(updates: list[dict[str, Any]], seen: set[str], furthest: int) -> tuple[list[dict[str, Any]], int]:
    """The updates not sent yet (`seen` is updated), each at least as far as the furthest step already shown: the bar
    never moves back when a later message (a wait, a reason) belongs to an earlier step. Returns them and the new
    furthest step."""
    out = []
    for update in updates:
        if update["message"] in seen:
            continue
        seen.add(update["message"])
        furthest = max(furthest, int(update["progress"]))
        out.append({**update, "progress": furthest})
    return out, furthest


def _progress_messages(name: str, instance: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Progress events for the spawn page, from what the operator has put in the instance's status."""
    if instance is None:
        return []
    status = instance.get("status") or {}
    out = [{"progress": PROGRESS_CREATED, "message": f"Requested notebook instance {name}"}]
    for entry, state in sorted((status.get("pvcs") or {}).items()):
        if state.get("state") == models.STATE_PROVISIONED and state.get("errorMessage"):
            out.append({"progress": PROGRESS_PVCS, "message": f"Storage {entry!r}: {state['errorMessage']}"})
        elif state.get("state") == models.STATE_PROVISIONED:
            out.append({"progress": PROGRESS_PVCS, "message": f"Storage {entry!r} is ready"})
    for entry, state in sorted((status.get("pods") or {}).items()):
        if state.get("state") in (models.STATE_PROVISIONED, models.STATE_RUNNING):
            out.append({"progress": PROGRESS_POD, "message": f"Server pod {entry!r} created"})
        if state.get("state") == models.STATE_PROVISIONED and state.get("errorMessage"):
            # What holds it up (the scheduler's or the kubelet's words), which the hub cannot read itself.
            out.append({"progress": PROGRESS_POD, "message": f"Server pod {entry!r}: {state['errorMessage']}"})
        if state.get("state") == models.STATE_RUNNING:
            out.append({"progress": PROGRESS_RUNNING, "message": f"Server pod {entry!r} is running"})
    ready = _condition(instance, "Ready")
    if ready.get("status") == "False" and ready.get("reason") not in (None, "Provisioning"):
        out.append({"progress": PROGRESS_CREATED, "message": ready.get("message", "")})
    return out


async def _entitled_options_form(spawner: JupyternetesSpawner) -> str:
    """The spawn page's choices: the profiles this user is entitled to, and why the last server stopped."""
    notice = ""
    if spawner.stop_reason:
        notice = (f'<div class="alert alert-warning" id="jupyternetes-stop-reason">'
                  f"{html.escape(spawner.stop_reason)}</div>")
    try:
        offered = await spawner.entitled_profiles()
    except SpawnError as error:
        return notice + f'<div class="alert alert-danger">{html.escape(error.jupyterhub_message)}</div>'
    except Exception:  # noqa: BLE001 - the page must render, with a reason, whatever went wrong
        spawner.log.exception("cannot tell which profiles %s may start", spawner.user.name)
        return notice + ('<div class="alert alert-danger">This hub cannot tell which servers you may start. Ask your '
                         "administrator.</div>")
    if not offered:
        return notice + ('<div class="alert alert-info" id="jupyternetes-no-profiles">No server types are available '
                         "to you. Ask a security officer for access.</div>")
    return notice + profiles.options_form(offered)


async def _check_user_options(spawner: JupyternetesSpawner, user_options: dict[str, Any]) -> None:
    """JupyterHub's `apply_user_options` (5.3+): the options may come from the form or straight from the REST API,
    so they are checked here, before the hub calls `start`: only `profile`, naming a profile this user is entitled
    to. A refusal is an HTTP 400 with a message the user reads."""
    unknown = sorted(set(user_options or {}) - {"profile"})
    if unknown:
        raise web.HTTPError(400, f"unknown server options {unknown}: this hub takes only 'profile'")
    if (user_options or {}).get("profile") and not spawner.profile_list:
        raise web.HTTPError(400, "this hub offers no profiles to choose from; start the server without options")
    try:
        await spawner.entitled_profile()
    except SpawnError as error:
        raise web.HTTPError(400, error.jupyterhub_message) from None
