"""A real Kubernetes node joined to the local control plane: containerd 2 with runc, the kubelet, and kube-router's
firewall for NetworkPolicy, all on this machine.

Pods run in real containers under their security contexts, mount real volumes, and get addresses on a private
bridge. Nothing leaves the machine: `hostnet.install_guard` drops every packet forwarded between the bridge and any
other interface, so a pod reaches the node's own addresses and other pods and nothing else.

The node has its own identity: a client certificate for `system:node:<name>` in `system:nodes`, authorized by the API
server's Node authorizer and NodeRestriction, and a serving certificate the API server verifies for `kubectl logs` and
`kubectl exec`. Everything it writes lives in the cluster's state directory (the containerd and kubelet roots, the CNI
configuration and IP allocations, the network namespaces) except what the kernel keeps: the bridge and veths,
iptables, ipsets, sysctls, cgroups and mounts. `RealNode.stop` removes those too, and a node that was killed is
cleaned up when the next one starts (`hostnet`'s snapshot is kept on disk).

One real node per machine: the bridge, the node address and the iptables guard are machine-wide.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import yaml

from jupyternetes import kube, pki
from jupyternetes.dev import hostnet, images, toolchain
from jupyternetes.dev.cluster import REAL_NODE_NAME, LocalCluster, Process, free_port, kubeconfig_document, wait_for

NODE_NAME: Final = REAL_NODE_NAME
#: The node's InternalIP, a /32 on `lo` (the kubelet refuses a loopback address; this kernel has no dummy links).
NODE_IP: Final = "10.254.0.1"
#: Outside every kwok node's range (`<prefix>.N.0/24` for small N), inside the hub's `server_networks`.
POD_CIDR: Final = "10.244.254.0/24"
POD_GATEWAY: Final = "10.244.254.1"
BRIDGE: Final = "jnt0"
CGROUP_ROOT: Final = "jupyternetes"
CGROUP_BASE: Final = Path("/sys/fs/cgroup")
MACHINE_DIR: Final = Path("/run/jupyternetes-node")
SNAPSHOT_FILE: Final = MACHINE_DIR / "snapshot.json"
LOCK_FILE: Final = MACHINE_DIR / "lock"
CNI_BIN_DIR: Final = Path("/usr/lib/cni")
RUNC: Final = Path("/usr/sbin/runc")
#: Host paths a runtime might create outside the state directory; teardown removes them if they were not there.
WATCHED_PATHS: Final = ("/run/containerd", "/var/lib/cni", "/etc/cni", "/opt/cni", "/var/lib/kubelet",
                        "/var/log/pods", "/var/log/containers", "/run/netns", "/var/run/netns", "/opt/containerd",
                        "/var/lib/containerd", "/usr/libexec/kubernetes", "/etc/kubernetes", "/run/nri",
                        "/var/lib/kube-router", "/run/kube-router")
#: Debian packages the node needs (scripts/setup installs them).
DEBIAN_PACKAGES: Final = ("runc", "containernetworking-plugins", "iptables", "ipset", "nftables", "conntrack",
                          "debootstrap", "iproute2", "socat")
#: Where pods reach the API server: the `kubernetes` Service's endpoint, forwarded to the API server on loopback
#: (which is where the rest of the harness talks to it). 6443, so that egress rules for the usual API server ports
#: (the chart's NetworkPolicies) apply as they would in a cluster.
API_FORWARD_PORT: Final = 6443
KUBE_PROXY_USER: Final = "system:kube-proxy"
KUBE_ROUTER_USER: Final = "system:kube-router"
POD_PIDS_LIMIT: Final = 2048
APISERVER_KUBELET_CLIENT: Final = "kube-apiserver-kubelet-client"


class NodeError(RuntimeError):
    """The real node could not start; the message names the component and ends with its log."""


def why_not() -> str | None:
    """One line saying why this machine cannot run a real node, or None when it can."""
    if os.name != "posix" or not Path("/proc/self/mountinfo").exists():
        return "a real node needs Linux"
    if os.geteuid() != 0:
        return "a real node needs root (containerd, runc, network namespaces and iptables)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay filesystem, which containerd's snapshotter needs"
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        return "the kernel has no bridge netfilter (br_netfilter), which NetworkPolicy enforcement on a bridge needs"
    if not (CGROUP_BASE / "memory").is_dir() and not (CGROUP_BASE / "cgroup.controllers").exists():
        return "no cgroup hierarchy is mounted at /sys/fs/cgroup"
    missing = [name for name in ("iptables", "ip6tables", "ipset", "nft", "ip", "debootstrap", "chroot", "tar", "socat")
               if shutil.which(name) is None]
    if not RUNC.exists():
        missing.append(str(RUNC))
    if not (CNI_BIN_DIR / "bridge").exists():
        missing.append(str(CNI_BIN_DIR / "bridge"))
    if missing:
        return f"missing {', '.join(missing)} (scripts/setup installs Debian's {' '.join(DEBIAN_PACKAGES)})"
    holder = _lock_holder()
    if holder is not None:
        return f"another real node is running on this machine (pid {holder}); one per machine"
    return None


def _lock_holder() -> int | None:
    if not LOCK_FILE.exists():
        return None
    with open(LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _cgroup_dirs() -> list[Path]:
    """Our cgroup root in every mounted hierarchy (cgroup v1 has one per controller)."""
    if (CGROUP_BASE / "cgroup.controllers").exists():
        return [CGROUP_BASE / CGROUP_ROOT]
    # A hybrid hierarchy: one per v1 controller, plus the unified one the runtime also uses.
    return [entry / CGROUP_ROOT for entry in sorted(CGROUP_BASE.iterdir())
            if entry.is_dir() and not entry.is_symlink()]


def watched_paths() -> tuple[str, ...]:
    """Every host path a node may create, its cgroups included; teardown checks that none is left."""
    return (*WATCHED_PATHS, *(str(path) for path in _cgroup_dirs()))


def _freeze(state: str) -> None:
    """Freeze (or thaw) every process under our cgroups, so that none can fork while they are being killed."""
    freezer = CGROUP_BASE / "freezer" / CGROUP_ROOT / "freezer.state"
    if freezer.exists():
        with contextlib.suppress(OSError):
            freezer.write_text(state)
            deadline = time.monotonic() + 5
            while state == "FROZEN" and freezer.read_text().strip() != "FROZEN" and time.monotonic() < deadline:
                time.sleep(0.02)
    unified = CGROUP_BASE / CGROUP_ROOT / "cgroup.freeze"
    if unified.exists():
        with contextlib.suppress(OSError):
            unified.write_text("1" if state == "FROZEN" else "0")


def kill_cgroups() -> None:
    """Kill every process in our cgroups (the containers) and remove the cgroups, deepest first. The processes are
    frozen first, so a fork bomb cannot outrun the killing."""
    _freeze("FROZEN")
    for _attempt in range(50):
        pids = set()
        for root in _cgroup_dirs():
            # os.walk, not rglob: cgroups vanish while they are walked (the kubelet and runc remove them too).
            for directory, _, _ in os.walk(root, onerror=lambda error: None):
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in Path(directory, "cgroup.procs").read_text().split())
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _freeze("THAWED")  # killed processes die only once thawed
        time.sleep(0.1)
        _freeze("FROZEN")
    _freeze("THAWED")
    for root in _cgroup_dirs():
        for directory, _, _ in sorted(os.walk(root, onerror=lambda error: None), key=lambda w: w[0].count("/"),
                                      reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def kill_shims(address: str) -> None:
    """Kill containerd shims serving `address` (they outlive containerd by design)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def unmount_under(path: Path) -> None:
    """Unmount everything mounted below `path`, deepest first (volumes, network namespaces, overlay roots)."""
    prefix = str(path.resolve()) + "/"
    for _attempt in range(3):
        points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        ours = sorted({p for p in points if (p + "/").startswith(prefix)}, key=len, reverse=True)
        if not ours:
            return
        for point in ours:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def stale_node_left() -> bool:
    """Whether a real node that nobody runs any more left its changes on this machine."""
    return SNAPSHOT_FILE.exists() and _lock_holder() is None


def cleanup_stale() -> list[str]:
    """Tear down what a killed node left behind (its snapshot is still on disk); returns what is still different."""
    if not SNAPSHOT_FILE.exists():
        return []
    snapshot = hostnet.Snapshot.load(SNAPSHOT_FILE)
    state = Path((MACHINE_DIR / "state-dir").read_text()) if (MACHINE_DIR / "state-dir").exists() else None
    kill_cgroups()
    if state is not None:
        kill_shims(str(state / "containerd" / "containerd.sock"))
        unmount_under(state)
        shutil.rmtree(state, ignore_errors=True)
    left = hostnet.restore(snapshot)
    SNAPSHOT_FILE.unlink(missing_ok=True)
    (MACHINE_DIR / "state-dir").unlink(missing_ok=True)
    return left


@dataclass
class RealNode:
    """containerd, the kubelet and kube-router for `cluster`; their logs go to the cluster's `logs/`."""

    cluster: LocalCluster
    name: str = NODE_NAME
    node_ip: str = NODE_IP
    pod_cidr: str = POD_CIDR
    processes: list[Process] = field(default_factory=list)
    images: dict[str, images.Image] = field(default_factory=dict)
    _lock: IO[str] | None = None
    leftovers: list[str] = field(default_factory=list)
    #: The node's runtime state (containerd's and the kubelet's roots, CNI state, network namespaces). A short path
    #: of its own, since Unix socket paths are limited to 107 bytes; logs stay in the cluster's state directory.
    #: Made by `start` (mode 0700, and it must not exist yet), removed by `stop`.
    state_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / f"jnt-node-{secrets.token_hex(6)}")

    @property
    def containerd_socket(self) -> Path:
        return self.state_dir / "containerd" / "containerd.sock"

    # Start -----------------------------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> None:
        reason = why_not()
        if reason:
            raise NodeError(f"this machine cannot run a real node: {reason}")
        tools = toolchain.ensure(toolchain.NODE_TOOLS)
        self.images = images.ensure_all()
        MACHINE_DIR.mkdir(parents=True, exist_ok=True)
        lock = open(LOCK_FILE, "a+")  # noqa: SIM115 - held for the node's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            lock.close()
            raise NodeError("another real node is running on this machine; one per machine") from error
        self._lock = lock
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        try:
            stale = cleanup_stale()
            if stale:
                raise NodeError("a previous node left changes that could not be undone: " + "; ".join(stale))
            self.state_dir.mkdir(mode=0o700)
            snapshot = hostnet.Snapshot.take(watched_paths())
            snapshot.save(SNAPSHOT_FILE)
            (MACHINE_DIR / "state-dir").write_text(str(self.state_dir))
            self._prepare_host(snapshot)
            self._write_identity()
            self._start_containerd(tools, timeout)
            self._import_images(tools)
            self._register_node()
            self._start_kubelet(tools, timeout)
            self._start_kube_router(tools, timeout)
            self._start_service_proxy(tools, timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = self.cluster.spawn(name, argv)
        self.processes.append(process)
        return process

    def _prepare_host(self, snapshot: hostnet.Snapshot) -> None:
        hostnet.install_guard(BRIDGE, [f"{self.node_ip}/32", self.pod_cidr],
                              forwarding_was_on=snapshot.sysctls.get("net/ipv4/ip_forward") == "1")
        hostnet.run(["ip", "addr", "add", f"{self.node_ip}/32", "dev", "lo"])
        # The bridge is made here, before the CNI plugin adopts it, so that it never has IPv6.
        hostnet.run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
        hostnet.run(["ip", "link", "set", BRIDGE, "up"])
        # Bridged pod-to-pod traffic must pass iptables for NetworkPolicy (and the guard) to apply to it.
        Path("/proc/sys/net/bridge/bridge-nf-call-iptables").write_text("1\n")
        Path("/proc/sys/net/bridge/bridge-nf-call-ip6tables").write_text("1\n")
        for directory in _cgroup_dirs():
            directory.mkdir(exist_ok=True)

    def _write_identity(self) -> None:
        d = self.cluster.pki_dir
        ca = pki.load((d / "ca.crt").read_bytes(), (d / "ca.key").read_bytes())
        node_dir = self.state_dir / "pki"
        node_dir.mkdir(parents=True, exist_ok=True)
        pki.issue(ca, f"system:node:{self.name}", organizations=["system:nodes"], client=True).write(
            node_dir / "kubelet-client.crt", node_dir / "kubelet-client.key")
        pki.issue(ca, self.name, server=True, dns_names=[self.name], ip_addresses=[self.node_ip]).write(
            node_dir / "kubelet-serving.crt", node_dir / "kubelet-serving.key")
        pki.issue(ca, KUBE_ROUTER_USER, client=True).write(node_dir / "kube-router.crt", node_dir / "kube-router.key")
        pki.issue(ca, KUBE_PROXY_USER, client=True).write(node_dir / "kube-proxy.crt", node_dir / "kube-proxy.key")
        for name in ("kubelet-client", "kube-router", "kube-proxy"):
            user = {"client-certificate": str(node_dir / f"{name}.crt"), "client-key": str(node_dir / f"{name}.key")}
            doc = kubeconfig_document(self.cluster.server, (d / "ca.crt").read_bytes(), user, "default")
            pki.write_private(node_dir / f"{name}.kubeconfig", yaml.safe_dump(doc).encode())

    # containerd ------------------------------------------------------------------------------------------------

    def containerd_config(self) -> str:
        root = self.state_dir / "containerd"
        pause = self.images["pause"].reference if self.images else ""
        return f"""\
# Written by jupyternetes.dev.node: containerd for one local node, everything under its state directory.
version = 3
root = "{root / 'root'}"
state = "{root / 'state'}"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs"]

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{root / 'containerd.sock.ttrpc'}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # Root here lacks CAP_SYS_RESOURCE: runc may only raise a container's oom_score_adj, never lower it.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{root / 'runc'}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{self.state_dir / 'cni' / 'net.d'}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{pause}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""

    def cni_config(self) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0",
            "name": "jupyternetes",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "dataDir": str(self.state_dir / "cni" / "ipam"),
                          "ranges": [[{"subnet": self.pod_cidr, "gateway": POD_GATEWAY}]],
                          "routes": [{"dst": "0.0.0.0/0"}]}},
                # No IPv6 in pods: NetworkPolicy is enforced for IPv4 only here.
                {"type": "tuning", "sysctl": {"net.ipv6.conf.all.disable_ipv6": "1",
                                              "net.ipv6.conf.default.disable_ipv6": "1"}},
            ],
        }

    def _start_containerd(self, tools: dict[str, Path], timeout: float) -> None:
        root = self.state_dir / "containerd"
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.toml").write_text(self.containerd_config())
        net_d = self.state_dir / "cni" / "net.d"
        net_d.mkdir(parents=True, exist_ok=True)
        (net_d / "10-jupyternetes.conflist").write_text(json.dumps(self.cni_config(), indent=1))
        env = {**os.environ, "PATH": f"{tools['containerd'].parent}:{os.environ.get('PATH', '')}"}
        process = self.cluster.spawn("containerd", [str(tools["containerd"]), "--config", str(root / "config.toml"),
                                                    "--log-level", "warn"], env=env)
        self.processes.append(process)
        wait_for("containerd to listen", lambda: self._ctr(tools, "version").returncode == 0, timeout,
                 interval=0.2, process=process)

    def _ctr(self, tools: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tools["ctr"]), "--address", str(self.containerd_socket), "--namespace", "k8s.io",
                               *args], capture_output=True, text=True, timeout=600, check=False)

    def _import_images(self, tools: dict[str, Path]) -> None:
        for image in self.images.values():
            self.import_image(image, tools)

    def import_image(self, image: images.Image, tools: dict[str, Path] | None = None) -> None:
        """Make `image` available to pods, by its tag and by its digest (pods name it with `imagePullPolicy`
        IfNotPresent or Never: there is no registry to pull from)."""
        tools = tools or toolchain.ensure(toolchain.NODE_TOOLS, log=False)
        self.images.setdefault(image.name, image)
        done = self._ctr(tools, "images", "import", str(image.archive))
        if done.returncode != 0:
            raise NodeError(f"importing {image.reference} into containerd failed: {done.stderr.strip()}")
        # The kubelet finds an image pinned by digest under its `repository@digest` name, as a pull records it.
        done = self._ctr(tools, "images", "tag", "--force", image.reference, image.pinned)
        if done.returncode != 0:
            raise NodeError(f"naming {image.reference} by its digest failed: {done.stderr.strip()}")

    # The kubelet -----------------------------------------------------------------------------------------------

    def _register_node(self) -> None:
        """Create the Node with its pod range (node IPAM is off) and let the API server talk to kubelets."""
        with self.cluster.kube() as admin:
            node = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name,
                                                               "kubernetes.io/os": "linux", "type": "real"}},
                    "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr]}}
            with contextlib.suppress(kube.Conflict):
                admin.create(node)
            bindings = [
                ("jupyternetes:kube-apiserver-kubelet-api", "system:kubelet-api-admin", APISERVER_KUBELET_CLIENT),
                ("jupyternetes:kube-router", "jupyternetes:kube-router", KUBE_ROUTER_USER),
            ]
            with contextlib.suppress(kube.Conflict):
                admin.create(_kube_router_role())
            for name, role, user in bindings:
                with contextlib.suppress(kube.Conflict):
                    admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                                  "metadata": {"name": name},
                                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                              "name": role},
                                  "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                                "name": user}]})

    def kubelet_config(self, port: int, healthz_port: int) -> dict[str, Any]:
        k = self.state_dir / "kubelet"
        p = self.state_dir / "pki"
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz_port,
            "tlsCertFile": str(p / "kubelet-serving.crt"),
            "tlsPrivateKeyFile": str(p / "kubelet-serving.key"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.cluster.pki_dir / "ca.crt")}},
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            # These VMs run cgroup v1 without systemd.
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "failSwapOn": False,
            "podLogsDir": str(k / "pod-logs"),
            "resolvConf": str(k / "resolv.conf"),
            "volumePluginDir": str(k / "volume-plugins"),
            "maxPods": 60,
            # A fork bomb in one notebook must not exhaust the machine's PIDs (32,768 here) for everyone.
            "podPidsLimit": POD_PIDS_LIMIT,
            "serializeImagePulls": False,
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "nodeStatusUpdateFrequency": "2s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "1m",
            "registerNode": True,
            "protectKernelDefaults": False,
            "localStorageCapacityIsolation": True,
        }

    def _start_kubelet(self, tools: dict[str, Path], timeout: float) -> None:
        k = self.state_dir / "kubelet"
        for sub in ("root", "pod-logs", "volume-plugins"):
            (k / sub).mkdir(parents=True, exist_ok=True)
        # No cluster DNS here: pods reach the hub and each other by address.
        (k / "resolv.conf").write_text("")
        port, healthz = free_port(), free_port()
        (k / "config.yaml").write_text(yaml.safe_dump(self.kubelet_config(port, healthz)))
        process = self._spawn("kubelet", [
            str(tools["kubelet"]), f"--config={k / 'config.yaml'}",
            f"--kubeconfig={self.state_dir / 'pki' / 'kubelet-client.kubeconfig'}",
            f"--root-dir={k / 'root'}", f"--hostname-override={self.name}", f"--node-ip={self.node_ip}",
            "--v=1",
        ])
        with self.cluster.kube() as admin:
            wait_for(f"node {self.name} to be Ready", lambda: _ready(admin, self.name), timeout, interval=0.3,
                     process=process)

    def _start_kube_router(self, tools: dict[str, Path], timeout: float) -> None:
        health = free_port()
        process = self._spawn("kube-router", [
            str(tools["kube-router"]), f"--kubeconfig={self.state_dir / 'pki' / 'kube-router.kubeconfig'}",
            "--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--enable-cni=false",
            "--enable-ipv4=true", "--enable-ipv6=false", f"--hostname-override={self.name}",
            f"--health-port={health}", "--metrics-port=0", "--iptables-sync-period=5m", "--v=1",
        ])

        def synced() -> bool:
            rules = hostnet.run(["iptables", "-w", "-t", "filter", "-S", "FORWARD"])
            return "KUBE-ROUTER-FORWARD" in rules
        wait_for("kube-router to install its firewall", synced, timeout, interval=0.3, process=process)

    def _start_service_proxy(self, tools: dict[str, Path], timeout: float) -> None:
        """Services for pods: kube-proxy (iptables mode), and the `kubernetes` Service's endpoint on the node's
        address, forwarded to the API server."""
        api_port = int(self.cluster.server.rsplit(":", 1)[1])
        self._spawn("api-forward", ["socat", f"TCP-LISTEN:{API_FORWARD_PORT},bind={self.node_ip},fork,reuseaddr",
                                    f"TCP:127.0.0.1:{api_port}"])
        slice_type = kube.KNOWN_TYPES[("discovery.k8s.io/v1", "EndpointSlice")]
        with self.cluster.kube() as admin:
            with contextlib.suppress(kube.Conflict):
                admin.create({
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "kubernetes-node", "namespace": "default",
                                 "labels": {"kubernetes.io/service-name": "kubernetes",
                                            "endpointslice.kubernetes.io/managed-by": "jupyternetes.dev.node"}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [self.node_ip], "conditions": {"ready": True}}],
                    "ports": [{"name": "https", "port": API_FORWARD_PORT, "protocol": "TCP"}]})
            assert admin.exists(slice_type, "kubernetes-node", "default")
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.state_dir / "pki" / "kube-proxy.kubeconfig")},
            "hostnameOverride": self.name, "bindAddress": self.node_ip, "mode": "iptables",
            "clusterCIDR": self.pod_cidr,
            "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # Leave the machine's conntrack limits and timeouts as they are.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
            "nodePortAddresses": [f"{self.node_ip}/32"],
        }
        path = self.state_dir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        process = self._spawn("kube-proxy", [str(tools["kube-proxy"]), f"--config={path}", "--v=1"])

        def synced() -> bool:
            return "KUBE-SVC-" in hostnet.run(["iptables", "-w", "-t", "nat", "-S", "KUBE-SERVICES"], check=False)
        wait_for("kube-proxy to program the kubernetes Service", synced, timeout, interval=0.3, process=process)

    # Stop ------------------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything and put the host back as it was; `leftovers` lists anything that could not be undone.
        Each step runs even if an earlier one failed; the first failure is raised at the end."""
        if self._lock is None:
            return  # never started (or already stopped): the machine-wide state is not this node's to touch
        failures: list[BaseException] = []
        for step in (self._stop_processes, lambda: unmount_under(self.state_dir), self._restore_host,
                     lambda: shutil.rmtree(self.state_dir, ignore_errors=True), self._release_lock):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - every step must run; the first error is re-raised
                failures.append(error)
        if failures:
            raise failures[0]

    def _stop_processes(self) -> None:
        stopping = ("kube-proxy", "api-forward", "kube-router", "kubelet")
        for process in reversed(self.processes):
            if process.name in stopping:
                process.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in reversed(self.processes):
            if process.name in stopping:
                process.wait_or_kill(deadline)
        kill_cgroups()
        for process in self.processes:
            if process.name == "containerd":
                process.signal(signal.SIGTERM)
                process.wait_or_kill(time.monotonic() + 5)
        kill_shims(str(self.containerd_socket))
        for process in self.processes:
            with contextlib.suppress(ValueError):
                self.cluster.processes.remove(process)
        self.processes.clear()

    def _restore_host(self) -> None:
        # Only the node that holds the lock restores: another node's snapshot is not this one's to use.
        if self._lock is not None and SNAPSHOT_FILE.exists():
            self.leftovers = hostnet.restore(hostnet.Snapshot.load(SNAPSHOT_FILE))
            SNAPSHOT_FILE.unlink(missing_ok=True)
            (MACHINE_DIR / "state-dir").unlink(missing_ok=True)

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
            with contextlib.suppress(OSError):
                LOCK_FILE.unlink()
                MACHINE_DIR.rmdir()


def _kube_router_role() -> dict[str, Any]:
    """What kube-router's firewall reads: pods, namespaces, nodes and NetworkPolicies (and nothing it may write)."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "jupyternetes:kube-router"},
            "rules": [{"apiGroups": [""], "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
                       "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                       "verbs": ["get", "list", "watch"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                       "verbs": ["get", "list", "watch"]}]}


def _ready(client: kube.Kube, name: str) -> bool:
    node = client.get(kube.KNOWN_TYPES[("v1", "Node")], name)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))
