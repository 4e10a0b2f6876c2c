"""The pinned helm (built from its Go module by the project's toolchain), for the chart's tests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Final

import yaml

from jupyternetes.dev import toolchain

CHART: Final = Path(__file__).resolve().parents[2] / "charts" / "jupyternetes"
#: The shipped policy data, which the chart's webhook.policyData is merged over.
POLICY_DATA: Final = Path(__file__).resolve().parents[2] / "policies" / "data.yaml"
KUBE_VERSION: Final = toolchain.KUBERNETES_VERSION.removeprefix("v")


def helm(*args: str, kubeconfig: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    binary = toolchain.ensure(["helm"], log=False)["helm"]
    extra = ["--kubeconfig", str(kubeconfig)] if kubeconfig else []
    return subprocess.run([str(binary), *args, *extra], capture_output=True, text=True, timeout=timeout)


def template(*values: str, release: str = "jupyternetes", namespace: str = "jupyternetes",
             **sets: str) -> subprocess.CompletedProcess[str]:
    """`helm template` with values files (paths relative to the chart) and --set pairs (dots as `__`)."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION,
            "--include-crds"]
    for file in values:
        args += ["--values", str(CHART / file)]
    for key, value in sets.items():
        args += ["--set", f"{key.replace('__', '.')}={value}"]
    return helm(*args)


def rendered(*values: str, **kwargs: Any) -> list[dict[str, Any]]:
    done = template(*values, **kwargs)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[tuple[str | None, str], dict[str, Any]]:
    return {(m["metadata"].get("namespace"), m["metadata"]["name"]): m for m in manifests if m["kind"] == kind}
