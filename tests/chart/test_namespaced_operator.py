"""The chart installed with a namespaced operator (`operator.namespaces`), and that operator run as a process with
exactly the chart's RBAC (a token for the chart's own ServiceAccount) and the chart's Deployment environment: it
provisions in the namespaces it serves and leaves every other namespace alone.

The chart's webhook pods run on kwok's fake nodes, where nothing can reach them, so the webhook configurations are
removed here; the chart's admission policies (inside the API server) stay in force."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import ADMIN, LocalCluster
from tests.operator.conftest import condition, make_instance, make_template, wait_condition
from tests.support import helm

pytestmark = pytest.mark.cluster

RELEASE = "nsop"
FULL = "nsop-jupyternetes"
SYSTEM = "nsop-system"
HUB = "nsop-hub"
USERS = "nsop-users"
OTHER = "nsop-other"
TEMPLATES = "nsop-templates"
VWC = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
MWC = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")]


@pytest.fixture(scope="module")
def installed() -> Iterator[LocalCluster]:
    with cluster_mod.running(cluster_mod.ClusterConfig(admission_policies=False)) as local:
        with local.kube(ADMIN) as admin:
            for namespace in (HUB, USERS, OTHER):  # the chart makes the templates' namespace
                admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            # Zero to JupyterHub makes the hub's ServiceAccount; the chart only binds it.
            admin.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hub", "namespace": HUB}})
        done = helm.helm("install", RELEASE, str(helm.CHART), "--namespace", SYSTEM, "--create-namespace",
                         "--set", f"hub.namespace={HUB}", "--set", f"templates.namespace={TEMPLATES}",
                         "--set", f"operator.namespaces={{{HUB},{USERS}}}", "--set", "templates.default.enabled=false",
                         "--wait", "--timeout", "180s", kubeconfig=local.kubeconfig(ADMIN))
        assert done.returncode == 0, done.stdout + done.stderr
        with local.kube(ADMIN) as admin:
            for rt in (VWC, MWC):
                admin.delete(rt, f"{FULL}-webhook")
            # The hub may create instances where the chart lets it (its own namespace); for this test, also in a
            # second namespace the operator serves and in one it does not, with the chart's own hub rules.
            rules = admin.get(kube.KNOWN_TYPES[("rbac.authorization.k8s.io/v1", "Role")], f"{FULL}-hub", HUB)["rules"]
            for namespace in (USERS, OTHER):
                admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                              "metadata": {"name": "hub", "namespace": namespace}, "rules": rules})
                admin.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                              "metadata": {"name": "hub", "namespace": namespace},
                              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hub"},
                              "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": HUB}]})
        yield local


def _token_kubeconfig(local: LocalCluster, admin: kube.Kube, namespace: str, account: str, path: Path) -> Path:
    token = admin.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})["status"]["token"]
    document = cluster_mod.kubeconfig_document(local.server, (local.pki_dir / "ca.crt").read_bytes(),
                                               {"token": token}, namespace)
    path.write_text(yaml.safe_dump(document))
    return path


def _chart_environment(local: LocalCluster) -> dict[str, str]:
    """The operator Deployment's environment, as the chart rendered it for this release."""
    done = helm.helm("get", "manifest", RELEASE, "--namespace", SYSTEM, kubeconfig=local.kubeconfig(ADMIN))
    assert done.returncode == 0, done.stderr
    deployment = next(d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"
                      and d["metadata"]["name"] == f"{FULL}-operator")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e["value"] for e in env if "value" in e}


def test_a_namespaced_operator_with_the_charts_rbac_serves_its_namespaces_and_leaves_others_alone(
    installed: LocalCluster, tmp_path: Path
) -> None:
    with installed.kube(ADMIN) as admin:
        settings = _chart_environment(installed)
        assert yaml.safe_load(settings["JUPYTERNETES_OPERATOR_NAMESPACES"]) == [HUB, USERS]
        # The chart's own sealing key, from the Secret it mounts, at a path this process can read.
        key = admin.get(kube.SECRET, f"{FULL}-sealing-key", SYSTEM)["data"]["sealing.key"]
        key_file = tmp_path / "sealing.key"
        key_file.write_bytes(base64.b64decode(key))
        key_file.chmod(0o600)
        env = {**os.environ, **settings, "JUPYTERNETES_OPERATOR_SEALING_KEY_FILE": str(key_file),
               "JUPYTERNETES_OPERATOR_IDENTITY": "nsop-operator-0", "JUPYTERNETES_OPERATOR_METRICS_PORT": "0",
               "JUPYTERNETES_OPERATOR_HEALTH_PORT": "0"}
        operator_config = _token_kubeconfig(installed, admin, SYSTEM, f"{FULL}-operator", tmp_path / "operator")
        hub_config = _token_kubeconfig(installed, admin, HUB, "hub", tmp_path / "hub")
        template = make_template(TEMPLATES)
        admin.create(template)
        log = tmp_path / "operator.log"
        with open(log, "wb") as out:
            operator = subprocess.Popen([sys.executable, "-m", "jupyternetes", "operator", "--kubeconfig",
                                         str(operator_config)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            # First an instance where it does not serve, then one in each namespace it serves.
            with kube.Kube(kube.KubeConfig.from_file(hub_config)) as hub:
                for namespace, name in ((OTHER, "outsider"), (HUB, "reader"), (USERS, "reader")):
                    hub.create(make_instance(namespace, name, template="notebook", template_namespace=TEMPLATES))
            for namespace in (HUB, USERS):
                ready = wait_condition(admin, namespace, "reader", "Ready", timeout=90)
                assert condition(ready, "Degraded")["status"] == "False"
            outsider = admin.get(kube.INSTANCE, "outsider", OTHER)
            assert "status" not in outsider, outsider.get("status")
            selector = "jupyternetes.kadense.io/instance=outsider"
            assert admin.list(kube.POD, OTHER, labelSelector=selector)["items"] == []
            assert admin.list(kube.PVC, OTHER, labelSelector=selector)["items"] == []
            assert admin.list(kube.SECRET, OTHER, labelSelector=selector)["items"] == []
            text = log.read_text(errors="replace")
            assert OTHER not in text, "the operator mentioned a namespace it does not serve"
            assert "Forbidden" not in text and " cannot " not in text, "the chart's RBAC refused the operator something"
        finally:
            operator.terminate()
            try:
                operator.wait(30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait(10)
