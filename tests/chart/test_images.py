"""The Dockerfiles, read statically (there is no container runtime here to build them): pinned bases, non-root,
and the entry point the chart's Deployments call."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.support import helm

REPO = Path(__file__).resolve().parents[2]


def _args(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))


def test_the_component_image_has_a_pinned_base_and_runs_as_non_root() -> None:
    text = (REPO / "Dockerfile").read_text()
    base = _args(text)["PYTHON_IMAGE"]
    assert re.fullmatch(r"docker\.io/library/python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert 'ENTRYPOINT ["jupyternetes"]' in text
    values = yaml.safe_load((helm.CHART / "values.yaml").read_text())
    for component in ("operator", "webhook"):
        assert values[component]["podSecurityContext"]["runAsUser"] == 65532


def test_the_hub_image_adds_the_spawner_to_a_pinned_z2jh_hub() -> None:
    text = (REPO / "Dockerfile.hub").read_text()
    # The base is a build argument (a site with a registry builds it on z2jh's image, this machine on its stand-in),
    # pinned by default to a z2jh release.
    assert re.fullmatch(r"quay\.io/jupyterhub/k8s-hub:\d+\.\d+\.\d+", _args(text)["HUB_IMAGE"])
    assert "FROM ${HUB_IMAGE}" in text
    assert '"/tmp/jupyternetes[spawner]"' in text
    assert text.rstrip().splitlines()[-1].startswith("USER ") and "root" not in text.rstrip().splitlines()[-1]


def test_the_z2jh_values_snippet_switches_the_spawner_and_drops_z2jh_rbac() -> None:
    values = yaml.safe_load((REPO / "docs" / "z2jh-values.yaml").read_text())
    assert values["rbac"]["create"] is False
    config = values["hub"]["config"]
    assert config["JupyterHub"]["spawner_class"] == "jupyternetes"
    mount = values["hub"]["extraVolumeMounts"][0]
    assert config["JupyternetesSpawner"]["operator_public_key"] == f"{mount['mountPath']}/sealing.pub"
    # The ConfigMap name is what the chart makes for a release named `jupyternetes`.
    sealing = helm.by_kind(helm.rendered(), "ConfigMap")[("jupyterhub", "jupyternetes-sealing")]
    assert values["hub"]["extraVolumes"][0]["configMap"]["name"] == sealing["metadata"]["name"]
    from traitlets.config import Config

    from jupyternetes.spawner import JupyternetesSpawner
    spawner = JupyternetesSpawner(config=Config({"JupyternetesSpawner": {
        k: v for k, v in config["JupyternetesSpawner"].items() if k != "operator_public_key"}}))
    assert spawner.template == "jupyter-notebook"
    assert spawner.template_namespace == "jupyternetes-templates"
