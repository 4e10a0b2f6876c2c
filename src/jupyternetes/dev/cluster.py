"""A real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

Used by the pytest fixtures and by `jupyternetes dev up`. The API server is secure (TLS, client certificates,
service-account tokens, RBAC authorization, admission webhooks on). kwok stands in for kubelets on fake nodes, so pods
are scheduled and become Running with pod IPs, though no container runs.

Identities, each with its own kubeconfig in the state directory:

- `admin`: a client certificate in `system:masters`.
- `officer`: a client certificate for a security officer (group `jupyternetes:security-officers`).
- `hub`, `operator`, `webhook`: service-account tokens, exactly as the components get them in a cluster.

Every process is started with a parent-death signal, so nothing outlives the harness even when a test run is killed.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from jupyternetes import kube, pki
from jupyternetes.dev import admission_policies, kwok_stages, provisioner, rbac, toolchain

ADMIN: Final = "admin"
OFFICER: Final = "officer"
HUB: Final = "hub"
OPERATOR: Final = "operator"
WEBHOOK: Final = "webhook"
IDENTITIES: Final = (ADMIN, HUB, OPERATOR, WEBHOOK, OFFICER)

OFFICER_USER: Final = "officer@jupyternetes.local"
OFFICER_GROUP: Final = "jupyternetes:security-officers"
SERVICE_CIDR: Final = "10.96.0.0/16"
SERVICE_IP: Final = "10.96.0.1"
DEFAULT_NODE_COUNT: Final = 2
#: The real node's name (`jupyternetes.dev.node`), where the provisioner puts local volumes when there is one.
REAL_NODE_NAME: Final = "jupyternetes-node"
#: Long enough for a working day of `dev up`; tests stop far sooner.
TOKEN_SECONDS: Final = 7 * 24 * 3600

_PR_SET_PDEATHSIG: Final = 1


class ClusterError(RuntimeError):
    """The control plane did not start; the message says which component and ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In a child before exec: get SIGKILL when the parent dies, so nothing outlives the harness."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    """One child process with its log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    die_with_parent: bool = True
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                process_group=0,
                preexec_fn=die_with_parent if self.die_with_parent else None,
            )
        finally:
            log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        self.signal(signal.SIGTERM)
        self.wait_or_kill(time.monotonic() + timeout)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait for the process to exit until `deadline` (a monotonic time), then kill its process group."""
        if self.popen is None:
            return
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1,
             process: Process | None = None) -> None:
    """Poll `check` until it returns True; raise ClusterError naming `what` on timeout or if `process` dies."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise ClusterError(f"{process.name} exited while waiting for {what}:\n{process.log_tail()}")
        try:
            if check():
                return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last_error = error
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    tail = f"\n{process.name} log:\n{process.log_tail()}" if process else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{tail}")


def kubeconfig_document(server: str, ca_pem: bytes, user: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "jupyternetes-dev", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "jupyternetes-dev", "context": {
            "cluster": "jupyternetes-dev", "user": "user", "namespace": namespace}}],
        "current-context": "jupyternetes-dev",
    }


@dataclass
class ClusterConfig:
    """How the local control plane is laid out. The defaults are what `jupyternetes dev up` uses."""

    #: Namespace of the operator's and webhook's service accounts (the webhook never judges objects here).
    system_namespace: str = "jupyternetes"
    #: Namespace that security officers keep templates in (the seed's template lives in `kadense`).
    template_namespace: str = "kadense"
    #: Namespace of the hub's service account and of the instances, PVCs and pods it spawns.
    hub_namespace: str = "default"
    #: Number of kwok fake nodes.
    nodes: int = DEFAULT_NODE_COUNT
    #: Pod CIDR of node N is `pod_cidr_prefix.N.0/24`. `127.1` puts pod IPs on loopback, where a local process can
    #: listen on them and stand in for a container.
    pod_cidr_prefix: str = "10.244"
    #: Extra namespaces to create at start-up.
    extra_namespaces: Sequence[str] = ()
    #: Bind the chart's ValidatingAdmissionPolicies to the local identities (off for a cluster the chart is installed
    #: into, since the chart brings its own bindings).
    admission_policies: bool = True
    #: Prepare the API server for a real kubelet (`jupyternetes.dev.node`): it verifies the kubelet's serving
    #: certificate and reaches it by InternalIP for logs and exec.
    real_node: bool = False
    #: Serve Go's profiler on the API server (`/debug/pprof/`, for the admin identity), for benchmarks that look into
    #: where the API server's time goes.
    apiserver_profiling: bool = False


@dataclass
class LocalCluster:
    """A running (or startable) control plane in `state_dir`."""

    state_dir: Path
    config: ClusterConfig = field(default_factory=ClusterConfig)
    die_with_parent: bool = True
    remove_state_on_stop: bool = True
    processes: list[Process] = field(default_factory=list)
    server: str = ""

    # Paths -----------------------------------------------------------------------------------------------------

    @property
    def pki_dir(self) -> Path:
        return self.state_dir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def kubeconfig(self, identity: str = ADMIN) -> Path:
        """`DIR/kubeconfig` for the admin, `DIR/kubeconfig-<identity>` for the others."""
        return self.state_dir / ("kubeconfig" if identity == ADMIN else f"kubeconfig-{identity}")

    def kube(self, identity: str = ADMIN) -> kube.Kube:
        return kube.Kube(kube.KubeConfig.from_file(self.kubeconfig(identity)))

    def async_kube(self, identity: str = ADMIN) -> kube.AsyncKube:
        return kube.AsyncKube(kube.KubeConfig.from_file(self.kubeconfig(identity)))

    def kubectl(self, *args: str, identity: str = ADMIN, input: str | None = None,
                check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl as `identity`."""
        binary = toolchain.TOOLS["kubectl"].path
        return subprocess.run(
            [str(binary), "--kubeconfig", str(self.kubeconfig(identity)), *args],
            input=input, capture_output=True, text=True, timeout=timeout, check=check,
        )

    # Start and stop --------------------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Start every component and return once pods can be scheduled and run; on failure, stop what started."""
        tools = toolchain.ensure(toolchain.CONTROL_PLANE_TOOLS)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        try:
            self._write_pki()
            self._start_etcd(tools["etcd"], timeout)
            self._start_apiserver(tools["kube-apiserver"], timeout)
            self._start_controllers(tools, timeout)
            self._bootstrap(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (newest first) and, for a throw-away cluster, remove the state directory."""
        # A throw-away cluster needs no orderly shutdown: ask everything to stop at once, and kill what has not
        # stopped two seconds later (the API server otherwise drains its watches for many seconds).
        for process in reversed(self.processes):
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for process in reversed(self.processes):
            process.wait_or_kill(deadline)
        self.processes.clear()
        if self.remove_state_on_stop:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        """Start another process that lives and dies with this control plane (logs in `logs/<name>.log`)."""
        process = Process(name, argv, self.log_dir / f"{name}.log", env=env, die_with_parent=self.die_with_parent)
        process.start()
        self.processes.append(process)
        return process

    # PKI -------------------------------------------------------------------------------------------------------

    def _write_pki(self) -> None:
        d = self.pki_dir
        d.mkdir(exist_ok=True)
        ca = pki.new_ca("jupyternetes-dev-ca")
        ca.write(d / "ca.crt", d / "ca.key")
        pki.issue(
            ca, "kube-apiserver", server=True,
            dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                       "kubernetes.default.svc.cluster.local"],
            ip_addresses=["127.0.0.1", SERVICE_IP],
        ).write(d / "apiserver.crt", d / "apiserver.key")
        signer = pki.new_key()
        pki.write_private(d / "sa.key", pki.KeyPair(signer, ca.cert).key_pem)
        (d / "sa.pub").write_bytes(pki.public_key_pem(signer))
        clients = {
            ADMIN: ("jupyternetes-admin", ["system:masters"]),
            OFFICER: (OFFICER_USER, [OFFICER_GROUP]),
            "kube-controller-manager": ("system:kube-controller-manager", []),
            "kube-scheduler": ("system:kube-scheduler", []),
            # kwok plays every kubelet at once, so no single node identity fits it.
            "kwok": ("kwok-controller", ["system:masters"]),
            # The API server's identity towards kubelets (logs, exec, port-forward).
            "kube-apiserver-kubelet-client": ("kube-apiserver-kubelet-client", []),
        }
        for name, (user, groups) in clients.items():
            pki.issue(ca, user, organizations=groups, client=True).write(d / f"{name}.crt", d / f"{name}.key")

    def _client_kubeconfig(self, name: str, path: Path, namespace: str = "default") -> None:
        d = self.pki_dir
        user = {
            "client-certificate-data": _b64(d / f"{name}.crt"),
            "client-key-data": _b64(d / f"{name}.key"),
        }
        doc = kubeconfig_document(self.server, (d / "ca.crt").read_bytes(), user, namespace)
        pki.write_private(path, yaml.safe_dump(doc).encode())

    # Components ------------------------------------------------------------------------------------------------

    def _start_etcd(self, binary: Path, timeout: float) -> None:
        for _attempt in range(3):
            client, peer = free_port(), free_port()
            data = self.state_dir / "etcd"
            shutil.rmtree(data, ignore_errors=True)
            process = self.spawn("etcd", [
                str(binary), "--name", "jupyternetes", "--data-dir", str(data),
                "--listen-client-urls", f"http://127.0.0.1:{client}",
                "--advertise-client-urls", f"http://127.0.0.1:{client}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"jupyternetes=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync", "--log-level", "warn", "--quota-backend-bytes", str(4 * 1024**3),
            ])
            try:
                wait_for("etcd to accept connections", lambda c=client: _port_open(c), timeout, process=process)
            except ClusterError:
                if "address already in use" in process.log_tail():
                    self.processes.remove(process)
                    continue
                raise
            self.etcd_url = f"http://127.0.0.1:{client}"
            return
        raise ClusterError("etcd could not find free ports after 3 attempts")

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines): every write by Jupyternetes' own identities."""
        return self.log_dir / "audit.log"

    def _audit_policy(self) -> Path:
        """Record, at Metadata level (who, what, when, the answer; no bodies), every write the operator, the webhook
        and the hub send. Reads and the control plane's own traffic are not recorded."""
        cfg = self.config
        users = [rbac.user_name(namespace, account)
                 for namespace, account in rbac.service_accounts(cfg.system_namespace, cfg.hub_namespace).values()]
        policy = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
                  "rules": [{"level": "Metadata", "users": users, "verbs": ["create", "update", "patch", "delete",
                                                                             "deletecollection"]},
                            {"level": "None"}]}
        path = self.state_dir / "audit-policy.yaml"
        path.write_text(yaml.safe_dump(policy))
        return path

    def _start_apiserver(self, binary: Path, timeout: float) -> None:
        d = self.pki_dir
        for _attempt in range(3):
            port = free_port()
            self.server = f"https://127.0.0.1:{port}"
            process = self.spawn("kube-apiserver", [
                str(binary),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1", f"--secure-port={port}", "--advertise-address=127.0.0.1",
                f"--tls-cert-file={d / 'apiserver.crt'}", f"--tls-private-key-file={d / 'apiserver.key'}",
                f"--client-ca-file={d / 'ca.crt'}",
                "--authorization-mode=Node,RBAC",
                f"--kubelet-client-certificate={d / 'kube-apiserver-kubelet-client.crt'}",
                f"--kubelet-client-key={d / 'kube-apiserver-kubelet-client.key'}",
                "--kubelet-preferred-address-types=InternalIP",
                *([f"--kubelet-certificate-authority={d / 'ca.crt'}"] if self.config.real_node else []),
                "--anonymous-auth=false",
                "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,"
                "ResourceQuota,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,NodeRestriction",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={d / 'sa.pub'}",
                f"--service-account-signing-key-file={d / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                f"--profiling={'true' if self.config.apiserver_profiling else 'false'}",
                "--endpoint-reconciler-type=none",
                f"--audit-policy-file={self._audit_policy()}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--v=1",
            ])
            self._client_kubeconfig(ADMIN, self.kubeconfig(ADMIN))
            admin = self.kube(ADMIN)
            try:
                wait_for("kube-apiserver to become ready", lambda: admin.request("GET", "/readyz") is not None,
                         timeout, interval=0.2, process=process)
                return
            except ClusterError:
                if "address already in use" in process.log_tail(200):
                    self.processes.remove(process)
                    continue
                raise
            finally:
                admin.close()
        raise ClusterError("kube-apiserver could not find a free port after 3 attempts")

    def _start_controllers(self, tools: dict[str, Path], timeout: float) -> None:
        d = self.pki_dir
        for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
            self._client_kubeconfig(name, d / f"{name}.kubeconfig")
        self.spawn("kube-controller-manager", [
            str(tools["kube-controller-manager"]),
            f"--kubeconfig={d / 'kube-controller-manager.kubeconfig'}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={d / 'sa.key'}", f"--root-ca-file={d / 'ca.crt'}",
            "--controllers=*,-bootstrapsigner,-tokencleaner,-csrsigning,-csrapproving,-csrcleaner,"
            "-node-ipam-controller",
            # Client rates well above the defaults (20/s), so that binding a storm of claims measures Jupyternetes,
            # not the controller manager's rate limiter.
            "--kube-api-qps=200", "--kube-api-burst=400",
            "--secure-port=0", "--v=1",
        ])
        self.spawn("kube-scheduler", [
            str(tools["kube-scheduler"]),
            f"--kubeconfig={d / 'kube-scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={d / 'kube-scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={d / 'kube-scheduler.kubeconfig'}",
            "--leader-elect=false", "--secure-port=0", "--v=1", "--kube-api-qps=200", "--kube-api-burst=400",
        ])
        stages = toolchain.module_dir("sigs.k8s.io/kwok", toolchain.KWOK_VERSION) / "kustomize" / "stage"
        stage_files = kwok_stages.write(stages, self.state_dir / "kwok-stages")
        self.spawn("kwok", [
            str(tools["kwok"]),
            f"--kubeconfig={d / 'kwok.kubeconfig'}",
            *[f"--config={path}" for path in stage_files],
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{free_port()}",
            "--node-ip=127.0.0.1",
            "--node-lease-duration-seconds=40",
        ])
        local_volumes = [f"--local-node={REAL_NODE_NAME}", f"--volume-dir={self.state_dir / 'volumes'}"]
        self.spawn("provisioner", [sys.executable, "-m", "jupyternetes.dev.provisioner",
                                    f"--kubeconfig={d / 'kwok.kubeconfig'}",
                                    *(local_volumes if self.config.real_node else [])])

    # Bootstrap -------------------------------------------------------------------------------------------------

    def _bootstrap(self, timeout: float) -> None:
        cfg = self.config
        with self.kube(ADMIN) as admin:
            crd_names = install_crds(admin)
            namespaces = [cfg.system_namespace, cfg.template_namespace, cfg.hub_namespace, *cfg.extra_namespaces]
            for namespace in dict.fromkeys(namespaces):
                _ensure(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            for obj in rbac.dev_objects(cfg.system_namespace, cfg.template_namespace, cfg.hub_namespace,
                                        OFFICER_GROUP):
                _ensure(admin, obj)
            for obj in dev_admission_policies(cfg) if cfg.admission_policies else []:
                _ensure(admin, obj)
            _ensure(admin, provisioner.storage_class())
            for index in range(cfg.nodes):
                _ensure(admin, fake_node(f"kwok-node-{index}", f"{cfg.pod_cidr_prefix}.{index}.0/24"))
            for crd in crd_names:
                wait_for(f"CRD {crd} to be established", lambda n=crd: _crd_established(admin, n), timeout)
            for identity, (namespace, account) in rbac.service_accounts(
                cfg.system_namespace, cfg.hub_namespace
            ).items():
                token = admin.request(
                    "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                    body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"expirationSeconds": TOKEN_SECONDS}},
                )["status"]["token"]
                doc = kubeconfig_document(self.server, (self.pki_dir / "ca.crt").read_bytes(), {"token": token},
                                          namespace)
                pki.write_private(self.kubeconfig(identity), yaml.safe_dump(doc).encode())
            self._client_kubeconfig(OFFICER, self.kubeconfig(OFFICER), cfg.template_namespace)
            node_names = [f"kwok-node-{index}" for index in range(cfg.nodes)]
            wait_for("kwok to mark the fake nodes Ready", lambda: all(_node_ready(admin, n) for n in node_names),
                     timeout, interval=0.2, process=self._process("kwok"))
            wait_for("the controller manager to create service accounts",
                     lambda: admin.exists(kube.KNOWN_TYPES[("v1", "ServiceAccount")], "default",
                                     cfg.hub_namespace),
                     timeout, interval=0.2, process=self._process("kube-controller-manager"))

    def _process(self, name: str) -> Process | None:
        return next((p for p in self.processes if p.name == name), None)


def dev_admission_policies(cfg: ClusterConfig) -> list[dict[str, Any]]:
    """The chart's ValidatingAdmissionPolicies, bound with the local identities (a release named jupyternetes)."""
    accounts = rbac.service_accounts(cfg.system_namespace, cfg.hub_namespace)
    hub = rbac.user_name(*accounts["hub"])
    return admission_policies.objects(
        release="jupyternetes", namespace=cfg.system_namespace, operator=rbac.user_name(*accounts["operator"]),
        hub=hub, instance_creators=[hub], exempt_namespaces=["kube-system"], lease_name=rbac.OPERATOR_LEASE,
        sealing_configmap=f"{cfg.hub_namespace}/{rbac.SEALING_CONFIGMAP}",
        component_accounts=[account for _, account in accounts.values()],
        policy=admission_policies.policy_config(), webhook=rbac.user_name(*accounts["webhook"]),
        webhook_configuration=rbac.WEBHOOK_CONFIGURATION)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure(client: kube.Kube, obj: dict[str, Any]) -> None:
    with contextlib.suppress(kube.Conflict):
        client.create(obj)


def _crd_established(client: kube.Kube, name: str) -> bool:
    crd = client.get(kube.KNOWN_TYPES[("apiextensions.k8s.io/v1", "CustomResourceDefinition")], name)
    conditions = crd.get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _node_ready(client: kube.Kube, name: str) -> bool:
    node = client.get(kube.KNOWN_TYPES[("v1", "Node")], name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


def crd_files() -> list[Path]:
    """The CRD manifests shipped with Jupyternetes (the repository's `crds/`, or the copy inside a wheel)."""
    packaged = Path(__file__).resolve().parents[1] / "_data" / "crds"
    source = Path(__file__).resolve().parents[3] / "crds"
    directory = packaged if packaged.is_dir() else source
    return sorted(directory.glob("*.yaml"))


def install_crds(client: kube.Kube) -> list[str]:
    """Create or update both CRDs; returns their names."""
    names = []
    for path in crd_files():
        crd = yaml.safe_load(path.read_text())
        client.apply(crd, field_manager="jupyternetes-dev")
        names.append(crd["metadata"]["name"])
    return names


def fake_node(name: str, pod_cidr: str) -> dict[str, Any]:
    """A Node that kwok manages (it carries kwok's annotation); big enough for any benchmark."""
    resources = {"cpu": "256", "memory": "1Ti", "pods": "2000", "ephemeral-storage": "10Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "type": "kwok"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {"allocatable": resources, "capacity": resources, "phase": "Running"},
    }


@contextlib.contextmanager
def running(config: ClusterConfig | None = None, timeout: float = 120.0) -> Iterator[LocalCluster]:
    """A throw-away cluster in a temporary directory, for tests and benchmarks."""
    state = Path(tempfile.mkdtemp(prefix="jupyternetes-cluster-"))
    cluster = LocalCluster(state, config or ClusterConfig())
    cluster.start(timeout)
    try:
        yield cluster
    finally:
        cluster.stop()
