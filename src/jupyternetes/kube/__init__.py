"""The one package that talks to the Kubernetes API, in layers, one job per module:

- `errors`: the API's errors by status (NotFound, Conflict, Forbidden, Gone, ...) and kubeconfig errors;
- `resources`: resource types (the kinds Jupyternetes uses) and their request paths;
- `config`: kubeconfig files (client certificates, tokens, token files, exec credential plugins) and the in-cluster
  service account, whose token is re-read as the kubelet rotates it;
- `client`: a synchronous client over httpx and an asynchronous one over aiohttp (a seventh of httpx's CPU per request,
  for the components) that share every piece of request building and error handling (objects are plain dictionaries,
  exactly as the API server sends them: no model layer to lag behind the server's version);
- `manifests`: reading objects from YAML;
- `reflector`: a watch-backed copy of one resource type.

Everything is re-exported here, so the rest of the code says `kube.NotFound`, `kube.AsyncKube`, `kube.INSTANCE`.

Why not a client library such as lightkube (issue 14 asked us to choose and write down why): the clients here are a
few hundred lines over httpx and aiohttp, which the components already use; they give the operator what it relies on
and lightkube does not give in the same shape: a uid precondition on every delete, fenced writes (a callback run again
once a write has its connection, before a byte of it is sent, for leader election), request counting per method and
status, and objects as plain dictionaries for templates that must keep every field a newer Kubernetes adds. Exec
credential plugins, the one gap users met (EKS, GKE, AKS), are in `config`. A move to lightkube would add a dependency
and its model layer for none of these.
"""

from jupyternetes.kube.client import (
    APPLY_PATCH,
    DEFAULT_TIMEOUT,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    AsyncKube,
    Kube,
)
from jupyternetes.kube.config import (
    EXEC_REFRESH_MARGIN_SECONDS,
    EXEC_TIMEOUT_SECONDS,
    EXEC_TOKEN_SECONDS,
    IN_CLUSTER_DIR,
    TOKEN_REREAD_SECONDS,
    ExecPlugin,
    KubeConfig,
)
from jupyternetes.kube.errors import (
    TRANSIENT_STATUSES,
    UNTRUSTED,
    ApiError,
    Conflict,
    Fenced,
    Forbidden,
    Gone,
    KubeConfigError,
    NotFound,
    Unreachable,
    transient,
)
from jupyternetes.kube.manifests import load_manifests
from jupyternetes.kube.reflector import Reflector
from jupyternetes.kube.resources import (
    CONFIG_MAP,
    EVENT,
    INSTANCE,
    KNOWN_TYPES,
    NAMESPACE,
    POD,
    PVC,
    SECRET,
    SERVICE_ACCOUNT,
    TEMPLATE,
    ResourceType,
)

__all__ = [
    "APPLY_PATCH", "CONFIG_MAP", "DEFAULT_TIMEOUT", "EVENT", "EXEC_REFRESH_MARGIN_SECONDS", "EXEC_TIMEOUT_SECONDS",
    "EXEC_TOKEN_SECONDS", "INSTANCE", "IN_CLUSTER_DIR", "JSON_PATCH", "KNOWN_TYPES", "MERGE_PATCH", "NAMESPACE", "POD",
    "PVC", "SECRET", "SERVICE_ACCOUNT", "STRATEGIC_PATCH", "TEMPLATE", "TOKEN_REREAD_SECONDS", "TRANSIENT_STATUSES",
    "UNTRUSTED", "ApiError", "AsyncKube", "Conflict", "ExecPlugin", "Fenced", "Forbidden", "Gone", "Kube", "KubeConfig",
    "KubeConfigError", "NotFound", "Reflector", "ResourceType", "Unreachable", "load_manifests", "transient",
]
