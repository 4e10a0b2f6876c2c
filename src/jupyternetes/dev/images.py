"""Container images for the real node, built here without a registry: a Debian root filesystem from debootstrap,
Python packages from PyPI, packed as OCI image archives that containerd imports.

- `pause`: the pod sandbox, one static Go program (`toolchain.TOOLS["pause"]`).
- `notebook`: Debian with Python, tini, `jupyterhub-singleuser` and JupyterLab (the same JupyterHub version as the
  hub's, so the two speak the same API), running as uid 1000, gid 100 (`jovyan`), as Jupyter's own images do.
- `python-base`, `jupyternetes`: the project's `Dockerfile` built on Debian's Python (`dockerfile.build`).
- `hub-base`, `hub`: a stand-in for Zero to JupyterHub's hub image (JupyterHub in a Python environment on PATH, user
  `jovyan` 1000, `/srv/jupyterhub`), and the project's `Dockerfile.hub` built on it.
- `proxy`: configurable-http-proxy from the npm registry on Debian's Node.js, run as nobody (65534), as Zero to
  JupyterHub's proxy image is.

Each image is built once into `~/.cache/jupyternetes/images/<name>-<key>/` where the key hashes every input (suite,
packages, versions, this module's recipe version), and carries its manifest digest, so that policies can require
images by digest. Layers are uncompressed tar files: containerd reads them directly and nothing is pushed anywhere.

Building a root filesystem needs root (debootstrap, chroot) and reaches only Debian's mirror and PyPI. No umoci or
buildah is needed: an OCI image layout is a tar of the root filesystem plus three small JSON documents, written here
(`write_layout`) and tested without a node.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jupyternetes.dev import toolchain

#: Bump when a recipe below changes in a way its inputs do not show.
RECIPE_VERSION: Final = "1"
REGISTRY: Final = "localhost/jupyternetes"
DEBIAN_SUITE: Final = "bookworm"
DEBIAN_MIRROR: Final = os.environ.get("JUPYTERNETES_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_SECURITY_MIRROR: Final = os.environ.get("JUPYTERNETES_DEBIAN_SECURITY_MIRROR",
                                               "http://deb.debian.org/debian-security")
NOTEBOOK_DEBIAN_PACKAGES: Final = ("python3", "python3-venv", "ca-certificates", "tini")
NOTEBOOK_UID: Final = 1000
NOTEBOOK_GID: Final = 100
BUILD_TIMEOUT: Final = 1800.0

LAYER_MEDIA_TYPE: Final = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE: Final = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE: Final = "application/vnd.oci.image.manifest.v1+json"


class ImageError(RuntimeError):
    """An image could not be built; the message names the step and ends with its output."""


@dataclass(frozen=True)
class Image:
    """A built image archive and what a pod needs to name it."""

    name: str
    reference: str
    digest: str
    archive: Path

    @property
    def repository(self) -> str:
        return self.reference.rsplit(":", 1)[0]

    @property
    def pinned(self) -> str:
        """The image by digest (`repository@sha256:...`), as `require_digest` policies want it."""
        return f"{self.repository}@{self.digest}"


@dataclass(frozen=True)
class Recipe:
    """What goes into one image. `inputs` is everything its cache key depends on."""

    name: str
    inputs: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        text = json.dumps({"recipe": RECIPE_VERSION, "name": self.name, "inputs": self.inputs,
                           "config": self.config}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def reference(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.key}"


def _version(distribution: str, fallback: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return fallback


def notebook_recipe() -> Recipe:
    """The notebook image: JupyterHub pinned to the hub's own version and JupyterLab to this environment's (their
    dependencies resolve as pip resolves them on the day; pinning those to this environment's versions was tried and
    does not resolve for Debian's Python), and Debian with this week's security updates (so the image is rebuilt,
    and updated, once a week)."""
    pip = {"jupyterhub": _version("jupyterhub", "5.4.3"), "jupyterlab": _version("jupyterlab", "4.4.10")}
    return Recipe(
        name="notebook",
        inputs={"suite": DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "security_mirror": DEBIAN_SECURITY_MIRROR,
                "updates_week": time.strftime("%G-W%V", time.gmtime()), "debian": list(NOTEBOOK_DEBIAN_PACKAGES),
                "pip": pip,
                "uid": NOTEBOOK_UID, "gid": NOTEBOOK_GID},
        config={
            "User": f"{NOTEBOOK_UID}:{NOTEBOOK_GID}",
            "Env": ["PATH=/opt/jupyter/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME=/home/jovyan", "SHELL=/bin/bash", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"],
            "Entrypoint": ["/usr/bin/tini", "-g", "--"],
            "Cmd": ["jupyterhub-singleuser"],
            "WorkingDir": "/home/jovyan",
            "ExposedPorts": {"8888/tcp": {}},
        },
    )


PYTHON_BASE_PACKAGES: Final = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
REPOSITORY: Final = Path(__file__).resolve().parents[3]
#: What the project's Dockerfile copies in (its build context, less .dockerignore).
PROJECT_CONTEXT: Final = ("Dockerfile", "pyproject.toml", "README.md", "src", "crds", "policies")


def python_base_recipe() -> Recipe:
    """A Python base for the project's Dockerfile (its `PYTHON_IMAGE`): Debian's Python 3.11 with `python` and venv,
    root by default as a base image is; the Dockerfile sets the user it runs as."""
    return Recipe(
        name="python-base",
        inputs={"suite": DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "security_mirror": DEBIAN_SECURITY_MIRROR,
                "updates_week": time.strftime("%G-W%V", time.gmtime()), "debian": list(PYTHON_BASE_PACKAGES)},
        config={"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
                "Cmd": ["python3"]},
    )


HUB_BASE_PACKAGES: Final = ("python3", "python3-venv", "ca-certificates", "tini")
#: Zero to JupyterHub's hub image runs as jovyan, uid and gid 1000.
HUB_UID: Final = 1000
#: configurable-http-proxy 5 needs Node.js 20 or later: Debian 13's.
PROXY_DEBIAN_SUITE: Final = "trixie"
PROXY_DEBIAN_PACKAGES: Final = ("nodejs", "ca-certificates")
PROXY_UID: Final = 65534


def hub_base_recipe() -> Recipe:
    """A stand-in for Zero to JupyterHub's hub image (`quay.io/jupyterhub/k8s-hub`), the base `Dockerfile.hub` is
    built on: JupyterHub (the version this environment runs) in a Python environment whose `pip` is first on PATH,
    user `jovyan` (1000), working directory `/srv/jupyterhub`. Its configuration comes from the deployment (a
    ConfigMap), as z2jh's does."""
    return Recipe(
        name="hub-base",
        inputs={"suite": DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "security_mirror": DEBIAN_SECURITY_MIRROR,
                "updates_week": time.strftime("%G-W%V", time.gmtime()), "debian": list(HUB_BASE_PACKAGES),
                "pip": {"jupyterhub": _version("jupyterhub", "5.4.3")}, "uid": HUB_UID},
        config={"User": f"{HUB_UID}:{HUB_UID}",
                "Env": ["PATH=/opt/jupyterhub/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"],
                "Entrypoint": ["/usr/bin/tini", "--"],
                "Cmd": ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"],
                "WorkingDir": "/srv/jupyterhub", "ExposedPorts": {"8081/tcp": {}}},
    )


def proxy_recipe() -> Recipe:
    """JupyterHub's proxy as Zero to JupyterHub runs it (`quay.io/jupyterhub/configurable-http-proxy`): the pinned
    configurable-http-proxy from the npm registry, Debian 13's Node.js, user nobody (65534)."""
    version = toolchain.NPM_TOOLS["configurable-http-proxy"]
    return Recipe(
        name="proxy",
        inputs={"suite": PROXY_DEBIAN_SUITE, "mirror": DEBIAN_MIRROR, "security_mirror": DEBIAN_SECURITY_MIRROR,
                "updates_week": time.strftime("%G-W%V", time.gmtime()), "debian": list(PROXY_DEBIAN_PACKAGES),
                "npm": {"configurable-http-proxy": version}, "uid": PROXY_UID},
        config={"User": f"{PROXY_UID}:{PROXY_UID}",
                "Env": ["PATH=/srv/configurable-http-proxy/node_modules/.bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "LANG=C.UTF-8"],
                "Entrypoint": ["configurable-http-proxy"], "WorkingDir": "/srv/configurable-http-proxy",
                "ExposedPorts": {"8000/tcp": {}, "8001/tcp": {}}},
    )


def _context_digest(dockerfile: str = "Dockerfile") -> str:
    sha = hashlib.sha256()
    for name in (dockerfile, *PROJECT_CONTEXT[1:]):
        root = REPOSITORY / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                     and "__pycache__" not in p.parts)
        for path in files:
            sha.update(str(path.relative_to(REPOSITORY)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def project_recipe() -> Recipe:
    """The operator and webhook image, built from the project's own `Dockerfile` on `python-base`."""
    return Recipe(name="jupyternetes", inputs={"base": python_base_recipe().key, "context": _context_digest()})


def hub_recipe() -> Recipe:
    """The hub with the Jupyternetes spawner, built from the project's `Dockerfile.hub` on `hub-base`."""
    return Recipe(name="hub", inputs={"base": hub_base_recipe().key, "context": _context_digest("Dockerfile.hub")})


def opa_recipe() -> Recipe:
    """OPA for the chart's webhook pods: the pinned, Go-built static binary, as `/opa` (OPA's own image layout)."""
    return Recipe(name="opa", inputs={"opa": toolchain.OPA_VERSION},
                  config={"User": "1000:1000", "Entrypoint": ["/opa"], "Cmd": ["run"]})


def pause_recipe() -> Recipe:
    tool = toolchain.TOOLS["pause"]
    return Recipe(name="pause", inputs={"pause": tool.version, "go": toolchain.PAUSE_VERSION},
                  config={"User": "65535:65535", "Entrypoint": ["/pause"]})


def cache_dir() -> Path:
    return toolchain.cache_root() / "images"


def _run(step: str, command: list[str], timeout: float = BUILD_TIMEOUT, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except FileNotFoundError as error:
        raise ImageError(f"{step}: {command[0]} is not installed (scripts/setup installs it from Debian)") from error
    except subprocess.TimeoutExpired as error:
        raise ImageError(f"{step}: `{' '.join(command)}` did not finish within {timeout:.0f}s") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise ImageError(f"{step}: `{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")


# OCI layout ----------------------------------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def image_config(config: dict[str, Any], diff_ids: list[str], created: str = "1970-01-01T00:00:00Z") -> dict[str, Any]:
    """The OCI image configuration for a linux/amd64 image with these layers (pure)."""
    return {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "jupyternetes.dev.images"} for _ in diff_ids],
    }


def manifest(config_descriptor: dict[str, Any], layers: list[dict[str, Any]],
             annotations: dict[str, str]) -> dict[str, Any]:
    """An OCI image manifest (pure)."""
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, **config_descriptor},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, **layer} for layer in layers],
        "annotations": annotations,
    }


def write_layout(layout: Path, layer_tars: list[Path], config: dict[str, Any], reference: str) -> str:
    """Write an OCI image layout with these (uncompressed) layers; returns the manifest digest."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    layers = []
    for tar in layer_tars:
        digest = _file_digest(tar)
        shutil.move(str(tar), blobs / digest.removeprefix("sha256:"))
        layers.append({"digest": digest, "size": (blobs / digest.removeprefix("sha256:")).stat().st_size})
    config_descriptor = _blob(layout, json.dumps(image_config(config, [layer["digest"] for layer in layers]),
                                                 sort_keys=True).encode())
    tag = reference.rsplit(":", 1)[1]
    annotations = {"org.opencontainers.image.ref.name": tag}
    manifest_descriptor = _blob(layout, json.dumps(manifest(config_descriptor, layers, {}), sort_keys=True).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": MANIFEST_MEDIA_TYPE, **manifest_descriptor,
        "annotations": {**annotations, "io.containerd.image.name": reference}}]}
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps(index, sort_keys=True))
    return str(manifest_descriptor["digest"])


def _pack_rootfs(rootfs: Path, layer: Path) -> None:
    _run("packing the root filesystem", ["tar", "--numeric-owner", "--xattrs", "--sort=name", "-C", str(rootfs),
                                         "-cf", str(layer), "."])


# Root filesystems ----------------------------------------------------------------------------------------------


def _pause_rootfs(rootfs: Path) -> None:
    binary = toolchain.build(toolchain.TOOLS["pause"])
    rootfs.mkdir(parents=True)
    shutil.copy2(binary, rootfs / "pause")
    os.chmod(rootfs / "pause", 0o755)


def _opa_rootfs(rootfs: Path) -> None:
    binary = toolchain.build(toolchain.TOOLS["opa"])
    rootfs.mkdir(parents=True)
    shutil.copy2(binary, rootfs / "opa")
    os.chmod(rootfs / "opa", 0o755)
    (rootfs / "tmp").mkdir(mode=0o1777)


def _debian_rootfs(rootfs: Path, packages: tuple[str, ...], suite: str = DEBIAN_SUITE) -> dict[str, str]:
    """debootstrap with `packages` and this week's security updates; returns the environment for chroot steps
    (with this machine's resolver and CA bundle lent to it; `_return_loans` takes them back)."""
    if os.geteuid() != 0:
        raise ImageError("building a Debian image needs root (debootstrap and chroot)")
    _run("debootstrap", ["debootstrap", "--variant=minbase", "--include=" + ",".join(packages),
                         suite, str(rootfs), DEBIAN_MIRROR])
    # pip inside the chroot resolves and verifies PyPI exactly as this machine does: its resolver configuration and
    # CA bundle are lent for the build and removed before packing.
    shutil.copy2("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
    host_ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    lent_ca = rootfs / "tmp" / "build-ca.crt"
    shutil.copy2(host_ca, lent_ca)
    chroot = ["chroot", str(rootfs)]
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "PIP_CERT": "/tmp/build-ca.crt", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1",
           "PIP_DEFAULT_TIMEOUT": "180", "DEBIAN_FRONTEND": "noninteractive"}
    (rootfs / "etc" / "apt" / "sources.list").write_text(
        f"deb {DEBIAN_MIRROR} {suite} main\ndeb {DEBIAN_MIRROR} {suite}-updates main\n"
        f"deb {DEBIAN_SECURITY_MIRROR} {suite}-security main\n")
    _run("reading Debian's updates", [*chroot, "apt-get", "update", "-q"], env=env)
    _run("installing Debian's security updates", [*chroot, "apt-get", "upgrade", "-y", "-q"], env=env)
    _run("cleaning apt's cache", [*chroot, "apt-get", "clean"], env=env)
    return env


def _return_loans(rootfs: Path) -> None:
    (rootfs / "tmp" / "build-ca.crt").unlink(missing_ok=True)
    (rootfs / "etc" / "resolv.conf").write_text("")  # the kubelet mounts the pod's own
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / leftover).glob("*"):
            if entry.is_file():
                entry.unlink()


def _notebook_rootfs(rootfs: Path, recipe: Recipe) -> None:
    env = _debian_rootfs(rootfs, NOTEBOOK_DEBIAN_PACKAGES)
    chroot = ["chroot", str(rootfs)]
    _run("creating the Jupyter environment", [*chroot, "/usr/bin/python3", "-m", "venv", "/opt/jupyter"], env=env)
    pins = [f"{name}=={version}" for name, version in sorted(recipe.inputs["pip"].items())]
    _run("installing JupyterHub and JupyterLab from PyPI",
         [*chroot, "/opt/jupyter/bin/pip", "install", "--only-binary=:all:", *pins], env=env)
    _run("adding the jovyan user", [*chroot, "/usr/sbin/useradd", "--create-home", "--uid", str(NOTEBOOK_UID),
                                    "--gid", str(NOTEBOOK_GID), "--shell", "/bin/bash", "jovyan"], env=env)
    _return_loans(rootfs)


def _python_base_rootfs(rootfs: Path) -> None:
    _debian_rootfs(rootfs, PYTHON_BASE_PACKAGES)
    _return_loans(rootfs)


def _hub_base_rootfs(rootfs: Path, recipe: Recipe) -> None:
    env = _debian_rootfs(rootfs, HUB_BASE_PACKAGES)
    chroot = ["chroot", str(rootfs)]
    _run("creating the hub's Python environment", [*chroot, "/usr/bin/python3", "-m", "venv", "/opt/jupyterhub"],
         env=env)
    pins = [f"{name}=={version}" for name, version in sorted(recipe.inputs["pip"].items())]
    _run("installing JupyterHub from PyPI", [*chroot, "/opt/jupyterhub/bin/pip", "install", "--only-binary=:all:",
                                             *pins], env=env)
    _run("adding the jovyan user", [*chroot, "/usr/sbin/useradd", "--create-home", "--uid", str(HUB_UID),
                                    "--user-group", "--shell", "/bin/bash", "jovyan"], env=env)
    for directory in ("srv/jupyterhub", "usr/local/etc/jupyterhub"):
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    os.chown(rootfs / "srv" / "jupyterhub", HUB_UID, HUB_UID)
    _return_loans(rootfs)


def _proxy_rootfs(rootfs: Path, recipe: Recipe) -> None:
    _debian_rootfs(rootfs, PROXY_DEBIAN_PACKAGES, suite=PROXY_DEBIAN_SUITE)
    # The pinned package as the dev hub uses it: pure JavaScript, so the machine's npm installs it for the image.
    installed = toolchain.ensure_npm("configurable-http-proxy").parents[1]
    target = rootfs / "srv" / "configurable-http-proxy" / "node_modules"
    target.parent.mkdir(parents=True)
    _run("copying configurable-http-proxy", ["cp", "-a", str(installed), str(target)])
    native = [str(p.relative_to(target)) for p in target.rglob("*.node")]
    if native:
        raise ImageError(f"configurable-http-proxy has native modules built for this machine: {native}")
    _return_loans(rootfs)


def extract_rootfs(image: Image, target: Path) -> dict[str, Any]:
    """Unpack `image`'s layers into `target`; returns its image configuration."""
    unpacked = target.parent / (target.name + ".layout")
    unpacked.mkdir(parents=True)
    try:
        _run("unpacking the image archive", ["tar", "-C", str(unpacked), "-xf", str(image.archive)])
        index = json.loads((unpacked / "index.json").read_text())
        blobs = unpacked / "blobs" / "sha256"
        manifest_doc = json.loads((blobs / index["manifests"][0]["digest"].removeprefix("sha256:")).read_text())
        config = json.loads((blobs / manifest_doc["config"]["digest"].removeprefix("sha256:")).read_text())
        target.mkdir(parents=True)
        for layer in manifest_doc["layers"]:
            _run("unpacking a layer", ["tar", "--numeric-owner", "-C", str(target), "-xpf",
                                       str(blobs / layer["digest"].removeprefix("sha256:"))])
        return dict(config["config"])
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def _dockerfile_rootfs(work: Path, name: str, base_recipe: Recipe, base_argument: str) -> tuple[Path, dict[str, Any]]:
    """The project's Dockerfile `name`, built here on `base_recipe` given as its `base_argument` build argument."""
    from jupyternetes.dev import dockerfile

    base = build(base_recipe)
    base_rootfs = work / "base"
    base_config = extract_rootfs(base, base_rootfs)
    shutil.copy2("/etc/resolv.conf", base_rootfs / "etc" / "resolv.conf")
    host_ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    shutil.copy2(host_ca, base_rootfs / "tmp" / "build-ca.crt")
    try:
        built = dockerfile.build(REPOSITORY / name, REPOSITORY, {base.reference: (base_rootfs, base_config)},
                                 work / "stages", {base_argument: base.reference},
                                 run_env={"PIP_CERT": "/tmp/build-ca.crt", "PIP_DEFAULT_TIMEOUT": "180",
                                          })
    except dockerfile.DockerfileError as error:
        raise ImageError(f"building the project's {name}: {error}") from error
    _return_loans(built.rootfs)
    return built.rootfs, built.config


def build(recipe: Recipe, log: bool = True) -> Image:
    """Build `recipe` into the image cache unless it is there; returns the image."""
    directory = cache_dir() / f"{recipe.name}-{recipe.key}"
    metadata = directory / "image.json"
    if not metadata.exists():
        with toolchain._lock(f"image-{recipe.name}-{recipe.key}"):
            if not metadata.exists():
                _build_into(recipe, directory, log)
    info = json.loads(metadata.read_text())
    return Image(name=recipe.name, reference=info["reference"], digest=info["digest"],
                 archive=directory / "image.tar")


def _build_into(recipe: Recipe, directory: Path, log: bool) -> None:
    work = toolchain.cache_root() / "work" / f"image-{recipe.name}-{recipe.key}"
    if work.exists():
        _unmount_under(work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.monotonic()
    if log:
        print(f"building image {recipe.reference} ...", file=sys.stderr, flush=True)
    try:
        rootfs = work / "rootfs"
        config = recipe.config
        if recipe.name == "pause":
            _pause_rootfs(rootfs)
        elif recipe.name == "opa":
            _opa_rootfs(rootfs)
        elif recipe.name == "notebook":
            _notebook_rootfs(rootfs, recipe)
        elif recipe.name == "python-base":
            _python_base_rootfs(rootfs)
        elif recipe.name == "jupyternetes":
            rootfs, config = _dockerfile_rootfs(work, "Dockerfile", python_base_recipe(), "PYTHON_IMAGE")
        elif recipe.name == "hub-base":
            _hub_base_rootfs(rootfs, recipe)
        elif recipe.name == "hub":
            rootfs, config = _dockerfile_rootfs(work, "Dockerfile.hub", hub_base_recipe(), "HUB_IMAGE")
        elif recipe.name == "proxy":
            _proxy_rootfs(rootfs, recipe)
        else:
            raise ImageError(f"no recipe for an image named {recipe.name!r}")
        _unmount_under(rootfs)
        layer = work / "layer.tar"
        _pack_rootfs(rootfs, layer)
        layout = work / "layout"
        digest = write_layout(layout, [layer], config, recipe.reference)
        partial = work / "image.tar"
        _run("archiving the image layout", ["tar", "-C", str(layout), "-cf", str(partial), "."])
        directory.mkdir(parents=True, exist_ok=True)
        partial.rename(directory / "image.tar")
        (directory / "image.json").write_text(json.dumps(
            {"reference": recipe.reference, "digest": digest, "inputs": recipe.inputs}, indent=2, sort_keys=True))
    finally:
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    if log:
        print(f"built image {recipe.reference} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def _unmount_under(path: Path) -> None:
    """Unmount anything a failed debootstrap left mounted below `path` (its /proc, for one), deepest first."""
    prefix = str(path.resolve()) + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if (line.split()[4] + "/").startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def ensure_all(log: bool = True) -> dict[str, Image]:
    """The images the real node runs (built once, one at a time)."""
    return {recipe.name: build(recipe, log=log) for recipe in (pause_recipe(), notebook_recipe())}
