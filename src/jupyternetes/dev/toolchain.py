"""Build the pinned Kubernetes, etcd, kwok, OPA and Helm binaries from their Go modules, once, into a cache.

Binaries live in `~/.cache/jupyternetes/bin/<tool>-<version>/` (override the root with `JUPYTERNETES_CACHE`), the Go
module and build caches beside them, so a second build is a no-op and a version bump builds side by side. Builds take
a file lock, so two test sessions never build the same tool at once. Nothing is downloaded but Go modules from the
configured Go module proxy.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

KUBERNETES_VERSION: Final = "v1.37.1"
#: The staging modules (k8s.io/api and friends) are published with the same minor and patch as v0.x.
KUBERNETES_STAGING_VERSION: Final = "v0." + KUBERNETES_VERSION.removeprefix("v1.")
ETCD_VERSION: Final = "v3.7.3"
KWOK_VERSION: Final = "v0.8.0"
OPA_VERSION: Final = "v1.22.2"
HELM_VERSION: Final = "v3.22.0"
#: Load generator for the webhook benchmark: constant-rate HTTPS with latencies measured from each request's
#: scheduled start.
VEGETA_VERSION: Final = "v12.13.0"
CERT_MANAGER_VERSION: Final = "v1.21.2"  # only its CRDs, to check the chart's cert-manager objects offline
#: The real node's container runtime. containerd 2.x is what Kubernetes 1.36+ supports; Debian 12 ships 1.6 (end of
#: life), so it is built from its Go module like everything else.
CONTAINERD_VERSION: Final = "v2.4.2"
#: NetworkPolicy enforcement on the real node (its firewall controller only). v2.1.0 is the newest version the Go
#: module proxy serves here; its vulnerable Go dependencies are raised to fixed versions at build time
#: (`KUBE_ROUTER_DEPENDENCY_FLOOR`), as distributions that ship it do.
KUBE_ROUTER_VERSION: Final = "v2.1.0"
KUBE_ROUTER_DEPENDENCY_FLOOR: Final = {
    "golang.org/x/net": "v0.56.0",
    "golang.org/x/crypto": "v0.52.0",
    "golang.org/x/sys": "v0.46.0",
    "golang.org/x/text": "v0.39.0",
    "google.golang.org/protobuf": "v1.36.10",
}

GO_BUILD_TIMEOUT: Final = 3600.0


class ToolchainError(RuntimeError):
    """A tool could not be built; the message carries the failing command and the end of its output."""


def cache_root() -> Path:
    """Where binaries and Go caches go: `$JUPYTERNETES_CACHE`, else `~/.cache/jupyternetes`."""
    configured = os.environ.get("JUPYTERNETES_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "jupyternetes"


def go_env() -> dict[str, str]:
    """Environment for `go`: caches under the cache root, no toolchain downloads, static binaries."""
    root = cache_root()
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(root / "go" / "mod"),
        GOCACHE=str(root / "go" / "build"),
        GOPATH=str(root / "go" / "path"),
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod",
        CGO_ENABLED="0",
    )
    return env


@dataclass(frozen=True)
class Tool:
    """One binary: which module and package it is built from, and how."""

    name: str
    version: str
    package: str
    requires: dict[str, str]
    replaces: dict[str, str] = field(default_factory=dict)
    ldflags: tuple[str, ...] = ()
    main_go: str | None = None
    #: Binaries of one project share a directory (`containerd`, its shim and `ctr`).
    family: str | None = None
    #: Build tags, for example to leave out code that needs cgo.
    tags: tuple[str, ...] = ()

    @property
    def directory(self) -> Path:
        return cache_root() / "bin" / f"{self.group}-{self.version}"

    @property
    def group(self) -> str:
        if self.family:
            return self.family
        return "kubernetes" if self.package.startswith("k8s.io/kubernetes/") else self.name

    @property
    def path(self) -> Path:
        return self.directory / self.name


def _kubernetes_ldflags() -> tuple[str, ...]:
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return tuple(flags)


_ETCD_MAIN: Final = """\
// Built by jupyternetes.dev.toolchain: the etcd server, as etcd's own main package starts it.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
\tetcdmain.Main(os.Args)
}
"""


_PAUSE_MAIN: Final = """\
// Built by jupyternetes.dev.toolchain: the pod sandbox's process (what Kubernetes' pause image runs). It holds the
// pod's namespaces, reaps orphaned children and exits on SIGINT or SIGTERM.
package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\tchildren := make(chan os.Signal, 16)
\tsignal.Notify(children, syscall.SIGCHLD)
\tfor {
\t\tselect {
\t\tcase <-stop:
\t\t\tos.Exit(0)
\t\tcase <-children:
\t\t\tfor {
\t\t\t\tvar status syscall.WaitStatus
\t\t\t\tpid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
\t\t\t\tif pid <= 0 || err != nil {
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""

#: Version of the pause program above; bump it when the program changes.
PAUSE_VERSION: Final = "v1"


def kubernetes_staging_modules() -> list[str]:
    """The `k8s.io/*` staging modules that k8s.io/kubernetes requires at v0.0.0 and replaces with local paths.

    Read from the module's own go.mod, so a version bump picks up new staging modules by itself.
    """
    go_mod = module_dir("k8s.io/kubernetes", KUBERNETES_VERSION) / "go.mod"
    modules: list[str] = []
    in_require = False
    for line in go_mod.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("require ("):
            in_require = True
        elif in_require and stripped == ")":
            in_require = False
        elif in_require:
            parts = stripped.split()
            if len(parts) >= 2 and parts[0].startswith("k8s.io/") and parts[1] == "v0.0.0":
                modules.append(parts[0])
    return modules


def kubernetes_tool(name: str) -> Tool:
    return Tool(
        name=name,
        version=KUBERNETES_VERSION,
        package=f"k8s.io/kubernetes/cmd/{name}",
        requires={"k8s.io/kubernetes": KUBERNETES_VERSION},
        # Filled in lazily by _replaces(): reading the list needs the module downloaded.
        replaces={},
        ldflags=("-s", "-w", *_kubernetes_ldflags()),
    )


def containerd_tool(name: str) -> Tool:
    module = "github.com/containerd/containerd/v2"
    return Tool(
        name=name,
        version=CONTAINERD_VERSION,
        package=f"{module}/cmd/{name}",
        requires={module: CONTAINERD_VERSION},
        ldflags=("-s", "-w", f"-X {module}/version.Version={CONTAINERD_VERSION}",
                 f"-X {module}/version.Package=github.com/containerd/containerd/v2"),
        family="containerd",
        tags=("no_btrfs", "no_devmapper", "no_zfs", "no_aufs"),
    )


TOOLS: Final[dict[str, Tool]] = {
    **{name: kubernetes_tool(name) for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                                "kubectl", "kubelet", "kube-proxy")},
    **{name: containerd_tool(name) for name in ("containerd", "containerd-shim-runc-v2", "ctr")},
    "kube-router": Tool(
        name="kube-router",
        version=KUBE_ROUTER_VERSION,
        package="github.com/cloudnativelabs/kube-router/v2/cmd/kube-router",
        requires={"github.com/cloudnativelabs/kube-router/v2": KUBE_ROUTER_VERSION, **KUBE_ROUTER_DEPENDENCY_FLOOR},
        ldflags=("-s", "-w", f"-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={KUBE_ROUTER_VERSION}"),
    ),
    "pause": Tool(name="pause", version=PAUSE_VERSION, package=".", requires={}, ldflags=("-s", "-w"),
                  main_go=_PAUSE_MAIN),
    "etcd": Tool(
        name="etcd",
        version=ETCD_VERSION,
        package=".",
        requires={"go.etcd.io/etcd/server/v3": ETCD_VERSION},
        ldflags=("-s", "-w"),
        main_go=_ETCD_MAIN,
    ),
    "kwok": Tool(
        name="kwok",
        version=KWOK_VERSION,
        package="sigs.k8s.io/kwok/cmd/kwok",
        requires={"sigs.k8s.io/kwok": KWOK_VERSION},
        ldflags=("-s", "-w", f"-X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION}"),
    ),
    "opa": Tool(
        name="opa",
        version=OPA_VERSION,
        package="github.com/open-policy-agent/opa",
        requires={"github.com/open-policy-agent/opa": OPA_VERSION},
        ldflags=("-s", "-w", f"-X github.com/open-policy-agent/opa/v1/version.Version={OPA_VERSION.removeprefix('v')}"),
    ),
    "helm": Tool(
        name="helm",
        version=HELM_VERSION,
        package="helm.sh/helm/v3/cmd/helm",
        requires={"helm.sh/helm/v3": HELM_VERSION},
        ldflags=("-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"),
    ),
    "vegeta": Tool(
        name="vegeta",
        version=VEGETA_VERSION,
        package="github.com/tsenart/vegeta/v12",
        requires={"github.com/tsenart/vegeta/v12": VEGETA_VERSION},
        ldflags=("-s", "-w", f"-X main.Version={VEGETA_VERSION}"),
    ),
}

#: The tools the local control plane needs.
CONTROL_PLANE_TOOLS: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
#: The tools a real node needs on top of the control plane's.
NODE_TOOLS: Final = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "kube-router", "pause")


def _run(command: list[str], cwd: Path, timeout: float = GO_BUILD_TIMEOUT) -> str:
    try:
        done = subprocess.run(
            command, cwd=cwd, env=go_env(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise ToolchainError(f"{command[0]} is not installed; the pinned tools are built with Go >= 1.26") from error
    except subprocess.TimeoutExpired as error:
        raise ToolchainError(f"{' '.join(command)} did not finish within {timeout:.0f}s") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise ToolchainError(f"`{' '.join(command)}` failed in {cwd} (exit {done.returncode}):\n{tail}")
    return done.stdout


def module_dir(module: str, version: str) -> Path:
    """The extracted source of `module@version` in the Go module cache, downloading it when missing."""
    with tempfile.TemporaryDirectory(prefix="jupyternetes-gomod-") as scratch:
        out = _run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=Path(scratch), timeout=900)
    info = json.loads(out)
    if info.get("Error"):
        raise ToolchainError(f"cannot download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    lock_dir = cache_root() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_mod(tool: Tool) -> str:
    lines = ["module jupyternetes.local/build/" + tool.name, "", "go 1.26", ""]
    lines += [f"require {module} {version}" for module, version in sorted(tool.requires.items())]
    replaces = dict(tool.replaces)
    if tool.group == "kubernetes":
        replaces.update({m: f"{m} {KUBERNETES_STAGING_VERSION}" for m in kubernetes_staging_modules()})
    if replaces:
        lines += ["", "replace ("] + [f"\t{m} => {target}" for m, target in sorted(replaces.items())] + [")"]
    return "\n".join(lines) + "\n"


def build(tool: Tool, log: bool = True) -> Path:
    """Build `tool` into its cache directory unless it is already there; returns the binary's path."""
    if tool.path.exists():
        return tool.path
    with _lock(f"{tool.group}-{tool.version}"):
        if tool.path.exists():
            return tool.path
        work = cache_root() / "work" / f"{tool.name}-{tool.version}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "go.mod").write_text(_go_mod(tool))
        if tool.main_go:
            (work / "main.go").write_text(tool.main_go)
        if log:
            print(f"building {tool.name} {tool.version} from {tool.package} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        tool.directory.mkdir(parents=True, exist_ok=True)
        partial = tool.directory / f".{tool.name}.partial"
        tags = ["-tags", ",".join(tool.tags)] if tool.tags else []
        _run(
            ["go", "build", "-trimpath", *tags, "-ldflags", " ".join(tool.ldflags), "-o", str(partial), tool.package],
            cwd=work,
        )
        partial.rename(tool.path)
        shutil.rmtree(work, ignore_errors=True)
        if log:
            print(f"built {tool.path} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
        return tool.path


def ensure(names: tuple[str, ...] | list[str] = CONTROL_PLANE_TOOLS, log: bool = True) -> dict[str, Path]:
    """Build whichever of `names` are missing (one at a time: the machine has two cores) and return their paths."""
    return {name: build(TOOLS[name], log=log) for name in names}


#: Node packages the local JupyterHub needs, from the npm registry.
NPM_TOOLS: Final = {"configurable-http-proxy": "5.3.0"}


def ensure_npm(name: str, log: bool = True) -> Path:
    """Install an npm package (once) into the cache and return the path of its command."""
    version = NPM_TOOLS[name]
    prefix = cache_root() / "node" / f"{name}-{version}"
    binary = prefix / "node_modules" / ".bin" / name
    if binary.exists():
        return binary
    with _lock(f"npm-{name}-{version}"):
        if binary.exists():
            return binary
        prefix.mkdir(parents=True, exist_ok=True)
        if log:
            print(f"installing {name} {version} from the npm registry ...", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                                   f"{name}@{version}"], capture_output=True, text=True, timeout=600, check=False)
        except FileNotFoundError as error:
            raise ToolchainError("npm is not installed; JupyterHub's proxy comes from the npm registry") from error
        if done.returncode != 0 or not binary.exists():
            raise ToolchainError(f"npm install {name}@{version} failed:\n{done.stderr[-2000:]}")
        return binary


def openapi_spec_dir() -> Path:
    """Kubernetes' published OpenAPI v3 documents for the pinned version, from its Go module."""
    return module_dir("k8s.io/kubernetes", KUBERNETES_VERSION) / "api" / "openapi-spec" / "v3"
