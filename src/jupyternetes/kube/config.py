"""Kubeconfig: where the API server is and how to authenticate (client certificates, tokens, token files, exec
credential plugins, the in-cluster service account)."""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from jupyternetes.kube.errors import KubeConfigError


IN_CLUSTER_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS: Final = 60.0

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
