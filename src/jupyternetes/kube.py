"""The one module that talks to the Kubernetes API.

A small client over httpx, in a synchronous and an asynchronous flavour that share every piece of request building
and error handling. Objects are plain dictionaries, exactly as the API server sends them; there is no model layer to
lag behind the server's version. Configuration comes from a kubeconfig file (client certificates or bearer tokens) or
from the in-cluster service-account mount, whose token is re-read as the kubelet rotates it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import logging
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx
import yaml

from jupyternetes import constants

IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_TIMEOUT: Final = 30.0
TOKEN_REREAD_SECONDS: Final = 60.0

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
STRATEGIC_PATCH: Final = "application/strategic-merge-patch+json"
APPLY_PATCH: Final = "application/apply-patch+yaml"


class KubeConfigError(ValueError):
    """The kubeconfig cannot be used; the message says which part and why."""


class ApiError(Exception):
    """The API server answered with an error status. `message` is the server's own words."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        super().__init__(f"{status} {reason}: {message}")

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list((self.body.get("details") or {}).get("causes") or [])


class NotFound(ApiError):
    pass


class Unreachable(ApiError):
    """The API server could not be reached or did not answer in time (no HTTP status)."""


class Conflict(ApiError):
    pass


class Forbidden(ApiError):
    pass


class Gone(ApiError):
    """A watch or list asked for a resourceVersion that is no longer available; list again."""


class Fenced(ApiError):
    """The client refused to send a write: its `before_write` hook said this process may no longer write (an
    operator replica that cannot be sure it still holds the leader lease). Nothing reached the API server."""


_ERRORS_BY_STATUS: Final[dict[int, type[ApiError]]] = {404: NotFound, 409: Conflict, 403: Forbidden, 410: Gone}


@dataclass(frozen=True)
class ResourceType:
    """Where a kind lives in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection or object. Every segment that comes from data (namespace, name,
        subresource) is checked and quoted, so that no value can change which object is read or written."""
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{_segment(namespace, 'namespace')}")
        parts.append(self.plural)
        if name:
            parts.append(_segment(name, "name"))
            if subresource:
                parts.append(_segment(subresource, "subresource"))
        return "/".join(parts)


def _segment(value: str, what: str) -> str:
    """One path segment, percent-quoted; a value that is no name at all (empty, a dot segment, a slash, a control
    character) is refused, never sent."""
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "%" in value or any(
            ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError(f"{what} {value!r} is not a Kubernetes object name; refusing to build a request path from it")
    return quote(value, safe="")


def _rt(api_version: str, kind: str, plural: str, namespaced: bool = True) -> ResourceType:
    return ResourceType(api_version, kind, plural, namespaced)


#: Kinds that Jupyternetes and its tests use, so they need no discovery round trip.
KNOWN_TYPES: Final[dict[tuple[str, str], ResourceType]] = {
    (rt.api_version, rt.kind): rt
    for rt in (
        _rt("v1", "Pod", "pods"),
        _rt("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        _rt("v1", "Secret", "secrets"),
        _rt("v1", "ConfigMap", "configmaps"),
        _rt("v1", "Service", "services"),
        _rt("v1", "ServiceAccount", "serviceaccounts"),
        _rt("v1", "Event", "events"),
        _rt("v1", "ResourceQuota", "resourcequotas"),
        _rt("v1", "LimitRange", "limitranges"),
        _rt("v1", "Namespace", "namespaces", namespaced=False),
        _rt("v1", "Node", "nodes", namespaced=False),
        _rt("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
        _rt("events.k8s.io/v1", "Event", "events"),
        _rt("apps/v1", "Deployment", "deployments"),
        _rt("apps/v1", "StatefulSet", "statefulsets"),
        _rt("apps/v1", "DaemonSet", "daemonsets"),
        _rt("batch/v1", "Job", "jobs"),
        _rt("batch/v1", "CronJob", "cronjobs"),
        _rt("coordination.k8s.io/v1", "Lease", "leases"),
        _rt("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        _rt("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
        _rt("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        _rt("rbac.authorization.k8s.io/v1", "Role", "roles"),
        _rt("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        _rt("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
        _rt("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
            namespaced=False),
        _rt("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings", namespaced=False),
        _rt("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False),
        _rt("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False),
        _rt("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False),
        _rt("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False),
        _rt("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False),
        _rt(constants.API_VERSION, constants.TEMPLATE_KIND, constants.TEMPLATE_PLURAL),
        _rt(constants.API_VERSION, constants.INSTANCE_KIND, constants.INSTANCE_PLURAL),
    )
}

POD: Final = KNOWN_TYPES[("v1", "Pod")]
PVC: Final = KNOWN_TYPES[("v1", "PersistentVolumeClaim")]
SECRET: Final = KNOWN_TYPES[("v1", "Secret")]
SERVICE_ACCOUNT: Final = KNOWN_TYPES[("v1", "ServiceAccount")]
CONFIG_MAP: Final = KNOWN_TYPES[("v1", "ConfigMap")]
EVENT: Final = KNOWN_TYPES[("v1", "Event")]
NAMESPACE: Final = KNOWN_TYPES[("v1", "Namespace")]
TEMPLATE: Final = KNOWN_TYPES[(constants.API_VERSION, constants.TEMPLATE_KIND)]
INSTANCE: Final = KNOWN_TYPES[(constants.API_VERSION, constants.INSTANCE_KIND)]


#: How long a token from an exec plugin that names no expiry is used before the plugin is asked again.
EXEC_TOKEN_SECONDS: Final = 300.0
#: How long before its expiry a token from an exec plugin is replaced.
EXEC_REFRESH_MARGIN_SECONDS: Final = 60.0
EXEC_TIMEOUT_SECONDS: Final = 60.0


@dataclass
class ExecPlugin:
    """A client-go credential plugin, run as kubectl runs it: the command with its args and env, KUBERNETES_EXEC_INFO
    describing the request (never interactive), and an ExecCredential read from its standard output."""

    command: str
    args: list[str]
    env: dict[str, str]
    api_version: str
    source: str
    cluster: dict[str, Any] | None = None
    _cached: tuple[float, str] | None = field(default=None, repr=False)

    @classmethod
    def from_kubeconfig(cls, spec: Mapping[str, Any], base: Path, source: str,
                        cluster: Mapping[str, Any]) -> ExecPlugin:
        if not isinstance(spec, Mapping) or not spec.get("command"):
            raise KubeConfigError(f"kubeconfig {source}: the exec plugin names no command")
        command = str(spec["command"])
        if os.sep in command and not os.path.isabs(command):
            command = str(base / command)  # as kubectl does: a relative path is relative to the kubeconfig
        env = {str(e.get("name")): str(e.get("value", "")) for e in spec.get("env") or [] if isinstance(e, Mapping)}
        info = None
        if spec.get("provideClusterInfo"):
            info = {"server": cluster.get("server"), "certificate-authority-data":
                    cluster.get("certificate-authority-data"), "insecure-skip-tls-verify":
                    cluster.get("insecure-skip-tls-verify", False)}
        return cls(command, [str(a) for a in spec.get("args") or []], env,
                   str(spec.get("apiVersion") or "client.authentication.k8s.io/v1"), source, info)

    def token(self) -> str:
        """A current token: the cached one until shortly before it expires, else the plugin's new one."""
        now = time.time()
        if self._cached is not None and now < self._cached[0]:
            return self._cached[1]
        spec: dict[str, Any] = {"interactive": False}
        if self.cluster is not None:
            spec["cluster"] = {k: v for k, v in self.cluster.items() if v is not None}
        env = {**os.environ, **self.env, "KUBERNETES_EXEC_INFO": json.dumps(
            {"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})}
        try:
            done = subprocess.run([self.command, *self.args], env=env, capture_output=True, text=True,
                                  timeout=EXEC_TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise KubeConfigError(f"kubeconfig {self.source}: cannot run the exec plugin {self.command}: "
                                  f"{error}") from None
        if done.returncode != 0:
            raise KubeConfigError(f"kubeconfig {self.source}: the exec plugin {self.command} failed (exit "
                                  f"{done.returncode}): {done.stderr.strip()[:500]}")
        try:
            status = json.loads(done.stdout).get("status") or {}
        except (ValueError, AttributeError):
            raise KubeConfigError(f"kubeconfig {self.source}: the exec plugin {self.command} did not print an "
                                  "ExecCredential (JSON)") from None
        token = status.get("token")
        if not isinstance(token, str) or not token:
            raise KubeConfigError(f"kubeconfig {self.source}: the exec plugin {self.command} gave no token (client "
                                  "certificates from exec plugins are not supported)")
        expires = now + EXEC_TOKEN_SECONDS
        if status.get("expirationTimestamp"):
            try:
                stamp = datetime.datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
                expires = stamp.timestamp() - EXEC_REFRESH_MARGIN_SECONDS
            except ValueError:
                pass
        self._cached = (expires, token)
        return token


@dataclass
class KubeConfig:
    """How to reach and authenticate to one API server."""

    server: str
    namespace: str = "default"
    ca_data: bytes | None = None
    insecure: bool = False
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    token_file: Path | None = None
    #: A client-go exec credential plugin (users[].user.exec): EKS's `aws eks get-token`, GKE's
    #: `gke-gcloud-auth-plugin`, AKS's `kubelogin`. Run for a token, which is kept until it expires.
    exec_plugin: ExecPlugin | None = None
    _token_cache: tuple[float, str] | None = field(default=None, repr=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], context: str | None = None) -> KubeConfig:
        """Load a kubeconfig file. Client certificates, bearer tokens, token files and exec credential plugins (which
        give tokens) are supported."""
        path = Path(path)
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as error:
            raise KubeConfigError(f"cannot read kubeconfig {path}: {error.strerror}") from error
        except yaml.YAMLError as error:
            raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {error}") from error
        if not isinstance(document, dict):
            raise KubeConfigError(f"kubeconfig {path} is not a kubeconfig (expected a mapping)")

        def named(section: str, name: str) -> dict[str, Any]:
            for item in document.get(section) or []:
                if item.get("name") == name:
                    return dict(item.get(section.rstrip("s")) or {})
            raise KubeConfigError(f"kubeconfig {path} has no {section.rstrip('s')} named {name!r}")

        context_name = context or document.get("current-context")
        if not context_name:
            raise KubeConfigError(f"kubeconfig {path} has no current-context; pass a context name")
        ctx = named("contexts", context_name)
        cluster = named("clusters", ctx.get("cluster", ""))
        user = named("users", ctx.get("user", "")) if ctx.get("user") else {}
        base = path.parent

        def data(inline_key: str, file_key: str, source: dict[str, Any]) -> bytes | None:
            if source.get(inline_key):
                return base64.b64decode(source[inline_key])
            if source.get(file_key):
                return (base / source[file_key]).read_bytes()
            return None

        if "auth-provider" in user:
            raise KubeConfigError(
                f"kubeconfig {path}: user {ctx.get('user')!r} uses a legacy auth-provider plugin, which Kubernetes "
                "itself has removed; use its exec plugin (for example gke-gcloud-auth-plugin or kubelogin), a client "
                "certificate or a service-account token")
        plugin = ExecPlugin.from_kubeconfig(user["exec"], base, str(path), cluster) if "exec" in user else None
        return cls(
            server=str(cluster.get("server", "")).rstrip("/"),
            namespace=ctx.get("namespace") or "default",
            ca_data=data("certificate-authority-data", "certificate-authority", cluster),
            insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
            client_cert_data=data("client-certificate-data", "client-certificate", user),
            client_key_data=data("client-key-data", "client-key", user),
            token=user.get("token"),
            token_file=(base / user["tokenFile"]) if user.get("tokenFile") else None,
            exec_plugin=plugin,
        )

    @classmethod
    def in_cluster(cls) -> KubeConfig:
        """The pod's own service account, as mounted by the kubelet."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise KubeConfigError("not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set")
        if ":" in host:
            host = f"[{host}]"
        namespace_file = IN_CLUSTER_DIR / "namespace"
        return cls(
            server=f"https://{host}:{port}",
            namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
            ca_data=(IN_CLUSTER_DIR / "ca.crt").read_bytes(),
            token_file=IN_CLUSTER_DIR / "token",
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, context: str | None = None) -> KubeConfig:
        """`path` if given, else `$KUBECONFIG`, else the in-cluster account, else `~/.kube/config`."""
        if path:
            return cls.from_file(path, context)
        if os.environ.get("KUBECONFIG"):
            return cls.from_file(os.environ["KUBECONFIG"].split(os.pathsep)[0], context)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            return cls.in_cluster()
        return cls.from_file(Path.home() / ".kube" / "config", context)

    def bearer_token(self) -> str | None:
        if self.token:
            return self.token
        if self.exec_plugin is not None:
            return self.exec_plugin.token()
        if self.token_file is None:
            return None
        now = time.monotonic()
        if self._token_cache is None or now - self._token_cache[0] > TOKEN_REREAD_SECONDS:
            self._token_cache = (now, self.token_file.read_text().strip())
        return self._token_cache[1]

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            context = ssl.create_default_context(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            # ssl can only load a key pair from files; they exist for the duration of this call only.
            with tempfile.TemporaryDirectory(prefix="jupyternetes-tls-") as scratch:
                cert, key = Path(scratch) / "tls.crt", Path(scratch) / "tls.key"
                cert.write_bytes(self.client_cert_data)
                key.touch(mode=0o600)
                key.write_bytes(self.client_key_data)
                context.load_cert_chain(cert, key)
        return context


def _error_from(response: httpx.Response) -> ApiError:
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    message = str(body.get("message") or response.text or response.reason_phrase)
    reason = str(body.get("reason") or response.reason_phrase)
    error_type = _ERRORS_BY_STATUS.get(response.status_code, ApiError)
    return error_type(response.status_code, reason, message, body)


def _unreachable(method: str, path: str, error: Exception) -> Unreachable:
    return Unreachable(0, "Unreachable", f"{method} {path}: {type(error).__name__}: {error}")


def _result(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise _error_from(response)
    if not response.content:
        return {}
    if not response.headers.get("content-type", "").startswith("application/json"):
        return {"text": response.text}
    parsed = response.json()
    return parsed if isinstance(parsed, dict) else {"items": parsed}


def _patch_body(patch: Any) -> bytes:
    # Every patch type, server-side apply's YAML included, accepts JSON.
    return json.dumps(patch).encode()


def _delete_options(uid: str | None) -> dict[str, Any] | None:
    if not uid:
        return None
    return {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}


def _query(params: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class _Base:
    def __init__(self, config: KubeConfig, user_agent: str = "jupyternetes") -> None:
        self.config = config
        #: Sent with every request; API server audit logs name the component (and replica) by it.
        self.user_agent = user_agent
        self._discovered: dict[tuple[str, str], ResourceType] = {}

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    @staticmethod
    def type_of(obj: Mapping[str, Any]) -> tuple[str, str]:
        return str(obj.get("apiVersion", "")), str(obj.get("kind", ""))

    def _known(self, api_version: str, kind: str) -> ResourceType | None:
        return KNOWN_TYPES.get((api_version, kind)) or self._discovered.get((api_version, kind))

    def _remember(self, api_version: str, listing: dict[str, Any]) -> None:
        for resource in listing.get("resources") or []:
            if "/" in resource.get("name", ""):
                continue
            rt = ResourceType(api_version, resource["kind"], resource["name"], bool(resource.get("namespaced")))
            self._discovered[(api_version, rt.kind)] = rt

    @staticmethod
    def _discovery_path(api_version: str) -> str:
        return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"

    @staticmethod
    def _not_served(api_version: str, kind: str) -> ApiError:
        return NotFound(404, "NotFound", f"the server does not serve kind {kind!r} in {api_version!r}")


class Kube(_Base):
    """Synchronous client, for the command line, the local control plane and tests."""

    def __init__(self, config: KubeConfig, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(config)
        self._http = httpx.Client(base_url=config.server, verify=config.ssl_context(), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json") -> dict[str, Any]:
        content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        try:
            response = self._http.request(method, path, params=_query(params), content=content,
                                          headers=self._headers(content_type if content is not None else None))
        except httpx.TransportError as error:
            raise _unreachable(method, path, error) from error
        return _result(response)

    def resource(self, api_version: str, kind: str) -> ResourceType:
        known = self._known(api_version, kind)
        if known:
            return known
        self._remember(api_version, self.request("GET", self._discovery_path(api_version)))
        known = self._known(api_version, kind)
        if not known:
            raise self._not_served(api_version, kind)
        return known

    def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self.request("GET", rt.path(namespace, name))

    def exists(self, rt: ResourceType, name: str, namespace: str | None = None) -> bool:
        """Whether the object is there (any other error, such as Forbidden, is raised)."""
        try:
            self.get(rt, name, namespace)
            return True
        except NotFound:
            return False

    def list(self, rt: ResourceType, namespace: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("GET", rt.path(namespace), params=params)

    def create(self, obj: Mapping[str, Any], namespace: str | None = None, **params: Any) -> dict[str, Any]:
        rt = self.resource(*self.type_of(obj))
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.request("POST", rt.path(ns), params=params, body=dict(obj))

    def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str | None = None,
              content_type: str = MERGE_PATCH, subresource: str | None = None, **params: Any) -> dict[str, Any]:
        return self.request("PATCH", rt.path(namespace, name, subresource), params=params,
                            body=_patch_body(patch), content_type=content_type)

    def apply(self, obj: Mapping[str, Any], field_manager: str = "jupyternetes", force: bool = True,
              **params: Any) -> dict[str, Any]:
        """Server-side apply of a whole object."""
        rt = self.resource(*self.type_of(obj))
        meta = obj.get("metadata") or {}
        return self.patch(rt, meta["name"], obj, meta.get("namespace"), APPLY_PATCH, fieldManager=field_manager,
                          force=force, **params)

    def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *, uid: str | None = None,
               **params: Any) -> dict[str, Any]:
        """Delete by name; with `uid`, only that very object (the API server refuses a successor of the same name)."""
        return self.request("DELETE", rt.path(namespace, name), params=params, body=_delete_options(uid))

    def watch(self, rt: ResourceType, namespace: str | None = None, timeout: float = 60.0,
              **params: Any) -> Iterator[dict[str, Any]]:
        params = {"watch": True, "allowWatchBookmarks": True, "timeoutSeconds": int(timeout), **params}
        with self._http.stream("GET", rt.path(namespace), params=_query(params), headers=self._headers(),
                               timeout=httpx.Timeout(timeout + 10)) as response:
            if response.status_code >= 400:
                response.read()
                raise _error_from(response)
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


def _last_moment(check: Callable[[str, str], None], method: str,
                 path: str) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore `trace` callback that runs `check` just before the request's headers are sent."""
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event in ("http11.send_request_headers.started", "http2.send_request_headers.started"):
            check(method, path)
    return trace


class AsyncKube(_Base):
    """Asynchronous client, for the operator, the webhook and the spawner."""

    def __init__(self, config: KubeConfig, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 100,
                 user_agent: str = "jupyternetes") -> None:
        super().__init__(config, user_agent)
        #: Called with (method, path, status) after every answered request; the operator counts API calls with it.
        self.on_response: Callable[[str, str, int], None] | None = None
        #: Called with (method, path) before every request that is not a read; raising `Fenced` stops it unsent.
        self.before_write: Callable[[str, str], None] | None = None
        self._http = httpx.AsyncClient(
            base_url=config.server,
            verify=config.ssl_context(),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncKube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                      content_type: str = "application/json") -> dict[str, Any]:
        extensions: dict[str, Any] = {}
        if self.before_write is not None and method not in ("GET", "HEAD"):
            self.before_write(method, path)
            # Asked again at the last moment, as the request line is written to the socket: a request can wait for
            # a pooled connection for a while (long enough for the process to be paused and the lease to lapse).
            extensions["trace"] = _last_moment(self.before_write, method, path)
        content = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        try:
            response = await self._http.request(method, path, params=_query(params), content=content,
                                                headers=self._headers(content_type if content is not None else None),
                                                extensions=extensions)
        except httpx.TransportError as error:
            raise _unreachable(method, path, error) from error
        if self.on_response is not None:
            self.on_response(method, path, response.status_code)
        return _result(response)

    async def resource(self, api_version: str, kind: str) -> ResourceType:
        known = self._known(api_version, kind)
        if known:
            return known
        self._remember(api_version, await self.request("GET", self._discovery_path(api_version)))
        known = self._known(api_version, kind)
        if not known:
            raise self._not_served(api_version, kind)
        return known

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        return await self.request("GET", rt.path(namespace, name))

    async def list(self, rt: ResourceType, namespace: str | None = None, **params: Any) -> dict[str, Any]:
        return await self.request("GET", rt.path(namespace), params=params)

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None, **params: Any) -> dict[str, Any]:
        rt = await self.resource(*self.type_of(obj))
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return await self.request("POST", rt.path(ns), params=params, body=dict(obj))

    async def patch(self, rt: ResourceType, name: str, patch: Any, namespace: str | None = None,
                    content_type: str = MERGE_PATCH, subresource: str | None = None,
                    **params: Any) -> dict[str, Any]:
        return await self.request("PATCH", rt.path(namespace, name, subresource), params=params,
                                  body=_patch_body(patch), content_type=content_type)

    async def apply(self, obj: Mapping[str, Any], field_manager: str = "jupyternetes", force: bool = True,
                    **params: Any) -> dict[str, Any]:
        rt = await self.resource(*self.type_of(obj))
        meta = obj.get("metadata") or {}
        return await self.patch(rt, meta["name"], obj, meta.get("namespace"), APPLY_PATCH,
                                fieldManager=field_manager, force=force, **params)

    async def delete(self, rt: ResourceType, name: str, namespace: str | None = None, *, uid: str | None = None,
                     **params: Any) -> dict[str, Any]:
        """Delete by name; with `uid`, only that very object (the API server refuses a successor of the same name)."""
        return await self.request("DELETE", rt.path(namespace, name), params=params, body=_delete_options(uid))

    async def watch(self, rt: ResourceType, namespace: str | None = None, timeout: float = 300.0,
                    **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Watch events (`{"type": ..., "object": ...}`) until the server ends the watch after `timeout` seconds."""
        params = {"watch": True, "allowWatchBookmarks": True, "timeoutSeconds": int(timeout), **params}
        async with self._http.stream("GET", rt.path(namespace), params=_query(params), headers=self._headers(),
                                     timeout=httpx.Timeout(timeout + 10)) as response:
            if response.status_code >= 400:
                await response.aread()
                raise _error_from(response)
            async for line in response.aiter_lines():
                if line:
                    yield json.loads(line)


def load_manifests(text: str, source: str = "<input>") -> list[dict[str, Any]]:
    """Every YAML document in `text` that is an object, or `ValueError` naming the source and the YAML problem."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}".replace("\n", " ")) from None
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict):
            raise ValueError(f"{source}: document {index + 1} is a {type(doc).__name__}, not a Kubernetes object")
    return documents


_logger = logging.getLogger(__name__)


class Reflector:
    """An in-memory copy of every object of one resource type, kept current by list and watch.

    `synced` is set once the first list has been loaded. A failed or expired watch lists again after a short pause;
    readers always see the newest copy the stream delivered.
    """

    def __init__(self, api: AsyncKube, rt: ResourceType, namespace: str | None = None,
                 label_selector: str | None = None, retry_seconds: float = 1.0,
                 on_change: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.api = api
        #: Called with ("ADDED" | "MODIFIED" | "DELETED", object) for every change, and once per object on a relist.
        self.on_change = on_change
        self.rt = rt
        self.namespace = namespace
        self.label_selector = label_selector
        self.retry_seconds = retry_seconds
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.synced = asyncio.Event()
        #: Why the last list or watch failed ("" while it works), since when (monotonic), and how many times in all:
        #: a watch refused for good (403 after an RBAC change) is logged and can be seen, not retried in silence.
        self.last_error = ""
        self.failing_since: float | None = None
        self.failures = 0
        #: Called with the error each time the list or watch fails.
        self.on_error: Callable[[Exception], None] | None = None

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.items.get((namespace, name))

    async def run(self) -> None:
        params: dict[str, Any] = {"labelSelector": self.label_selector} if self.label_selector else {}
        while True:
            try:
                listing = await self.api.list(self.rt, self.namespace, **params)
                if self.failing_since is not None:
                    _logger.info("listing %s works again", self.rt.plural)
                self.last_error, self.failing_since = "", None
                fresh = {self._key(item): item for item in listing.get("items", [])}
                gone = [obj for key, obj in self.items.items() if key not in fresh]
                self.items = fresh
                self.synced.set()
                if self.on_change is not None:
                    for obj in gone:
                        self.on_change("DELETED", obj)
                    for obj in fresh.values():
                        self.on_change("MODIFIED", obj)
                version = listing["metadata"]["resourceVersion"]
                while True:
                    async for event in self.api.watch(self.rt, self.namespace, resourceVersion=version, **params):
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            raise Gone(410, "Expired", str(obj.get("message", "watch expired")))
                        version = (obj.get("metadata") or {}).get("resourceVersion", version)
                        if kind == "DELETED":
                            self.items.pop(self._key(obj), None)
                        elif kind in ("ADDED", "MODIFIED"):
                            self.items[self._key(obj)] = obj
                        else:
                            continue
                        if self.on_change is not None:
                            self.on_change(kind, obj)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - an API hiccup: list again shortly
                message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
                status = getattr(error, "status", None)
                described = f"{status} {message}" if status else str(message)
                if isinstance(error, Gone):
                    pass  # an expired watch is routine: list again
                elif described != self.last_error:
                    _logger.warning("the watch of %s failed (retrying every %gs): %s", self.rt.plural,
                                    self.retry_seconds, described)
                if not isinstance(error, Gone):
                    self.last_error = described
                    self.failing_since = self.failing_since or time.monotonic()
                    self.failures += 1
                    if self.on_error is not None:
                        self.on_error(error)
                await asyncio.sleep(self.retry_seconds)

    def failing_for(self) -> float:
        """How long the list or watch has failed without a success in between, in seconds (0 while it works)."""
        return 0.0 if self.failing_since is None else time.monotonic() - self.failing_since
