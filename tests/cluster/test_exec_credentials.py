"""Kubeconfigs with exec credential plugins (EKS's `aws eks get-token`, GKE's `gke-gcloud-auth-plugin`, AKS's
`kubelogin`) work for the spawner's and the CLI's clients, against the real API server: the plugin is run as kubectl
runs it, and its token is kept until shortly before it expires."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import rbac
from jupyternetes.dev.cluster import LocalCluster

pytestmark = pytest.mark.cluster

PLUGIN = """\
import json, os, pathlib, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert info["kind"] == "ExecCredential" and info["spec"]["interactive"] is False
calls = pathlib.Path(sys.argv[1])
calls.write_text(str(int(calls.read_text() or "0") + 1) if calls.exists() else "1")
if os.environ.get("PLUGIN_FAIL"):
    sys.exit("the identity provider said no")
print(json.dumps({"apiVersion": info["apiVersion"], "kind": "ExecCredential",
                  "status": {"token": os.environ["PLUGIN_TOKEN"], "expirationTimestamp": os.environ["PLUGIN_EXPIRES"]}}))
"""


def _kubeconfig(cluster: LocalCluster, tmp_path: Path, token: str, fail: bool = False) -> Path:
    admin = yaml.safe_load(cluster.kubeconfig("admin").read_text())
    (tmp_path / "plugin.py").write_text(PLUGIN)
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = [{"name": "PLUGIN_TOKEN", "value": token}, {"name": "PLUGIN_EXPIRES", "value": expires}]
    if fail:
        env.append({"name": "PLUGIN_FAIL", "value": "1"})
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "exec",
              "clusters": [{"name": "local", "cluster": admin["clusters"][0]["cluster"]}],
              "contexts": [{"name": "exec", "context": {"cluster": "local", "user": "hub", "namespace": "default"}}],
              "users": [{"name": "hub", "user": {"exec": {
                  "apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                  "args": [str(tmp_path / "plugin.py"), str(tmp_path / "calls")], "env": env,
                  "interactiveMode": "Never"}}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def _hub_token(cluster: LocalCluster, admin: kube.Kube) -> str:
    namespace = cluster.config.hub_namespace
    answer = admin.request("POST", kube.SERVICE_ACCOUNT.path(namespace, rbac.HUB_ACCOUNT, "token"),
                           body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                 "spec": {"expirationSeconds": 3600}})
    return str(answer["status"]["token"])


def test_a_kubeconfig_with_an_exec_plugin_authenticates_as_the_plugins_identity(
    cluster: LocalCluster, admin: kube.Kube, tmp_path: Path
) -> None:
    path = _kubeconfig(cluster, tmp_path, _hub_token(cluster, admin))
    with kube.Kube(kube.KubeConfig.from_file(path)) as hub:
        assert hub.list(kube.INSTANCE, "default")["kind"] == "JupyterNotebookInstanceList"
        with pytest.raises(kube.Forbidden) as refused:
            hub.list(kube.SECRET, "default")
        assert f"system:serviceaccount:{cluster.config.hub_namespace}:{rbac.HUB_ACCOUNT}" in refused.value.message
    assert (tmp_path / "calls").read_text() == "1"  # run once: the token is kept until it nearly expires


async def test_the_async_client_the_spawner_uses_works_too(
    cluster: LocalCluster, admin: kube.Kube, tmp_path: Path
) -> None:
    config = kube.KubeConfig.load(_kubeconfig(cluster, tmp_path, _hub_token(cluster, admin)))
    api = kube.AsyncKube(config)
    try:
        assert (await api.list(kube.INSTANCE, "default"))["kind"] == "JupyterNotebookInstanceList"
    finally:
        await api.aclose()


def test_a_plugin_that_fails_says_why(cluster: LocalCluster, tmp_path: Path) -> None:
    config = kube.KubeConfig.from_file(_kubeconfig(cluster, tmp_path, "unused", fail=True))
    with pytest.raises(kube.KubeConfigError) as failed:
        config.bearer_token()
    assert "the exec plugin" in str(failed.value) and "the identity provider said no" in str(failed.value)


def test_a_legacy_auth_provider_is_refused_with_what_to_use_instead(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({"current-context": "c", "clusters": [{"name": "k", "cluster": {"server": "https://x"}}],
                                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                                "users": [{"name": "u", "user": {"auth-provider": {"name": "gcp"}}}]}))
    with pytest.raises(kube.KubeConfigError) as refused:
        kube.KubeConfig.from_file(path)
    assert "gke-gcloud-auth-plugin" in str(refused.value)
