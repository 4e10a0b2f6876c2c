"""The chart installed with helm into a real local control plane (its own, since the chart registers webhooks for
the whole cluster): every object is accepted, the Deployments roll out on kwok's fake nodes, upgrades keep the
generated keys, and each component's ServiceAccount can do exactly what SECURITY.md's RBAC matrix says."""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import kube
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev.cluster import ADMIN, LocalCluster
from tests.support import helm

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RELEASE = "jnt"
FULL = "jnt-jupyternetes"
SYSTEM = "jnt-system"
HUB = "jnt-hub"
TEMPLATES = "jnt-system-templates"
USERS = "jnt-users"
SCOPES = {"hub namespace": [HUB], "release namespace": [SYSTEM], "template namespace": [TEMPLATES],
          "all namespaces": [HUB, SYSTEM, TEMPLATES, USERS], "cluster": [""]}
ACCOUNTS = {"hub": f"system:serviceaccount:{HUB}:hub",
            "operator": f"system:serviceaccount:{SYSTEM}:{FULL}-operator",
            "webhook": f"system:serviceaccount:{SYSTEM}:{FULL}-webhook"}
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
#: (API group, resource) pairs asked about in every namespace; "" is the core group.
NAMESPACED = [
    ("", "pods"), ("", "pods/exec"), ("", "pods/attach"), ("", "pods/ephemeralcontainers"), ("", "pods/log"),
    ("", "persistentvolumeclaims"), ("", "secrets"), ("", "configmaps"), ("", "services"), ("", "events"),
    ("", "serviceaccounts"), ("", "serviceaccounts/token"), ("events.k8s.io", "events"),
    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"),
    ("batch", "cronjobs"), ("kadense.io", "jupyternotebooktemplates"), ("kadense.io", "jupyternotebookinstances"),
    ("kadense.io", "jupyternotebookinstances/status"), ("coordination.k8s.io", "leases"),
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
]
CLUSTER_SCOPED = [
    ("", "nodes"), ("", "namespaces"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
]


@dataclass(frozen=True)
class Row:
    account: str
    where: str
    group: str
    resource: str
    name: str
    verbs: frozenset[str]


def documented_matrix() -> list[Row]:
    """The RBAC matrix table in SECURITY.md, for this test's release."""
    text = (REPO / "SECURITY.md").read_text()
    table = text.split("<!-- rbac-matrix:", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[3:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        account, where, group, resource, name, verbs = cells[:6]
        assert where in SCOPES, f"SECURITY.md: unknown scope {where!r}"
        rows.append(Row(account, where, "" if group == "core" else group, resource,
                        name.replace("<release>", FULL), frozenset(v.strip() for v in verbs.split(","))))
    assert len(rows) > 10
    return rows


def expected(rows: list[Row], account: str, verb: str, group: str, resource: str, namespace: str,
             name: str = "") -> bool:
    return any(r.account == account and r.group == group and r.resource == resource and verb in r.verbs
               and namespace in SCOPES[r.where] and r.name in ("", name) for r in rows)


@pytest.fixture(scope="module")
def installed() -> Iterator[LocalCluster]:
    with cluster_mod.running(cluster_mod.ClusterConfig(admission_policies=False)) as local:
        with local.kube(ADMIN) as admin:
            for namespace in (HUB, USERS):
                admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        # Installed as an admin would, default template included. The webhook's pods are kwok's fakes here, which the
        # API server cannot reach, so the default template (a post-install hook the webhook must admit) is refused,
        # and the install says so: fail closed, even for the chart's own template. On a real node the hook runs
        # (tests/node/test_chart_on_node.py).
        done = helm.helm("install", RELEASE, str(helm.CHART), "--namespace", SYSTEM, "--create-namespace",
                         "--set", f"hub.namespace={HUB}", "--wait", "--timeout", "180s",
                         kubeconfig=local.kubeconfig(ADMIN))
        assert done.returncode != 0, done.stdout
        assert "post-install" in done.stderr and "failed calling webhook" in done.stderr, done.stderr
        with local.kube(ADMIN) as admin:
            with pytest.raises(kube.NotFound):
                admin.get(kube.TEMPLATE, "jupyter-notebook", TEMPLATES)
        notes = helm.helm("get", "notes", RELEASE, "--namespace", SYSTEM, kubeconfig=local.kubeconfig(ADMIN))
        assert notes.returncode == 0, notes.stderr
        (local.state_dir / "helm-install.txt").write_text(notes.stdout)
        yield local


def _manifest(local: LocalCluster) -> list[dict[str, Any]]:
    done = helm.helm("get", "manifest", RELEASE, "--namespace", SYSTEM, kubeconfig=local.kubeconfig(ADMIN))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


class TestInstall:
    def test_every_object_is_accepted_and_exists(self, installed: LocalCluster) -> None:
        manifest = _manifest(installed)
        assert len(manifest) > 25
        found = installed.kubectl("get", "-f", "-", "-o", "name", input=yaml.safe_dump_all(manifest))
        assert found.returncode == 0, found.stderr
        assert sorted(line.split("/", 1)[1] for line in found.stdout.split()) == \
            sorted(obj["metadata"]["name"] for obj in manifest)
        crds = installed.kubectl("get", "crd", "-o", "name")
        assert "jupyternotebooktemplates.kadense.io" in crds.stdout
        assert "jupyternotebookinstances.kadense.io" in crds.stdout

    def test_the_install_notes_say_what_was_installed_and_what_to_do_next(self, installed: LocalCluster) -> None:
        notes = (installed.state_dir / "helm-install.txt").read_text().split("NOTES:", 1)[1]
        assert f"Webhook: {FULL}-webhook (2 replicas, OPA beside each). It fails" in notes
        assert f"ServiceAccount {HUB}/hub may create, read and delete" in notes
        assert f"Templates live in {TEMPLATES}" in notes
        assert "docs/zero-to-jupyterhub.md" in notes

    def test_deployments_roll_out_on_fake_nodes(self, installed: LocalCluster) -> None:
        with installed.kube(ADMIN) as admin:
            for name, replicas in ((f"{FULL}-operator", 2), (f"{FULL}-webhook", 2)):
                deployment = admin.get(kube.KNOWN_TYPES[("apps/v1", "Deployment")], name, SYSTEM)
                assert deployment["status"].get("readyReplicas") == replicas

    def test_with_its_webhook_unreachable_nothing_it_judges_is_created(self, installed: LocalCluster) -> None:
        """The webhook pods are fake (kwok), so the API server cannot reach them: Jupyternetes objects fail closed,
        while a pod that is not Jupyternetes' is not even sent to the webhook."""
        template = {"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookTemplate",
                    "metadata": {"name": "unjudged", "namespace": TEMPLATES}, "spec": {"pods": [], "pvcs": []}}
        with installed.kube(ADMIN) as admin:
            with pytest.raises(kube.ApiError) as refused:
                admin.create(template)
            assert "failed calling webhook" in refused.value.message
            assert "templates.validate.jupyternetes.kadense.io" in refused.value.message \
                or "templates.mutate.jupyternetes.kadense.io" in refused.value.message
            with pytest.raises(kube.NotFound):
                admin.get(kube.TEMPLATE, "unjudged", TEMPLATES)
            admin.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ordinary", "namespace": USERS},
                          "spec": {"containers": [{"name": "c", "image": "example.invalid/app:1"}]}})

    def test_an_upgrade_keeps_the_generated_keys_and_the_ca_bundle(self, installed: LocalCluster) -> None:
        with installed.kube(ADMIN) as admin:
            sealing = admin.get(kube.SECRET, f"{FULL}-sealing-key", SYSTEM)["data"]["sealing.key"]
            assert b"PRIVATE KEY" in base64.b64decode(sealing)
            # What the webhook would write at start-up: its certificate material and the caBundle.
            admin.patch(kube.SECRET, f"{FULL}-webhook-tls", {"data": {"ca.crt": base64.b64encode(b"ca").decode()}},
                        SYSTEM)
            validating = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")]
            configuration = admin.get(validating, f"{FULL}-webhook")
            for webhook in configuration["webhooks"]:
                webhook["clientConfig"]["caBundle"] = base64.b64encode(b"bundle").decode()
            admin.replace(validating, configuration)
            done = helm.helm("upgrade", RELEASE, str(helm.CHART), "--namespace", SYSTEM, "--reuse-values",
                             kubeconfig=installed.kubeconfig(ADMIN))
            # The upgrade is applied; only its post-upgrade hook (the default template) is refused, as at install.
            assert done.returncode != 0 and "post-upgrade" in done.stderr, done.stdout + done.stderr
            assert "failed calling webhook" in done.stderr, done.stderr
            assert admin.get(kube.SECRET, f"{FULL}-sealing-key", SYSTEM)["data"]["sealing.key"] == sealing
            assert admin.get(kube.SECRET, f"{FULL}-webhook-tls", SYSTEM)["data"]["ca.crt"] == \
                base64.b64encode(b"ca").decode()
            after = admin.get(validating, f"{FULL}-webhook")
            assert {w["clientConfig"].get("caBundle") for w in after["webhooks"]} == \
                {base64.b64encode(b"bundle").decode()}


def _review(admin: kube.Kube, user: str, verb: str, group: str, resource: str, namespace: str,
            name: str = "") -> bool:
    """A SubjectAccessReview: the question `kubectl auth can-i --as` asks, with the groups impersonation adds."""
    sa_namespace = user.split(":")[2]
    plural, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": plural, "subresource": subresource,
                  "namespace": namespace, "name": name}
    review = admin.create({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}",
                                 "system:authenticated"],
        "resourceAttributes": {k: v for k, v in attributes.items() if v}}})
    return bool(review["status"].get("allowed"))


def _can_i(local: LocalCluster, user: str, verb: str, group: str, resource: str, namespace: str,
           name: str = "") -> bool:
    plural, _, subresource = resource.partition("/")
    target = f"{plural}.{group}" if group else plural
    if name:
        target += f"/{name}"
    args = ["auth", "can-i", verb, target, "--as", user]
    if subresource:
        args += ["--subresource", subresource]
    args += ["--namespace", namespace] if namespace else []
    done = local.kubectl(*args)
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), done.stdout + done.stderr
    return answer == "yes"


class TestRbacMatrix:
    def test_the_matrix_parses_and_covers_every_component(self) -> None:
        assert {row.account for row in documented_matrix()} == set(ACCOUNTS)

    def test_every_account_can_do_exactly_what_the_matrix_says(self, installed: LocalCluster) -> None:
        """The whole grid through SubjectAccessReview (the API behind `kubectl auth can-i`), then every allowed
        cell, every named cell and the hub's whole row in its own namespace through `kubectl auth can-i` itself."""
        rows = documented_matrix()
        cells: list[tuple[str, str, str, str, str, str]] = []
        for account in ACCOUNTS:
            for verb in VERBS:
                for group, resource in NAMESPACED:
                    cells += [(account, verb, group, resource, ns, "") for ns in SCOPES["all namespaces"]]
                cells += [(account, verb, group, resource, "", "") for group, resource in CLUSTER_SCOPED]
                for row in rows:
                    if row.name and row.account == account:
                        for namespace in SCOPES[row.where]:
                            cells.append((account, verb, row.group, row.resource, namespace, row.name))
        wrong: list[str] = []
        kubectl_cells = []
        with installed.kube(ADMIN) as admin:
            for account, verb, group, resource, namespace, name in cells:
                want = expected(rows, account, verb, group, resource, namespace, name)
                got = _review(admin, ACCOUNTS[account], verb, group, resource, namespace, name)
                if want != got:
                    wrong.append(f"{account} {verb} {group or 'core'}/{resource} {name} in {namespace or 'cluster'}:"
                                 f" matrix says {want}, API server says {got}")
                if want or name or (account == "hub" and namespace == HUB):
                    kubectl_cells.append((account, verb, group, resource, namespace, name, want))
        assert wrong == []
        assert len(cells) > 1500

        def ask(cell: tuple[str, str, str, str, str, str, bool]) -> str | None:
            account, verb, group, resource, namespace, name, want = cell
            got = _can_i(installed, ACCOUNTS[account], verb, group, resource, namespace, name)
            return None if got == want else f"kubectl auth can-i {verb} {resource} {name} as {account}: {got}"

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            kubectl_wrong = [m for m in pool.map(ask, kubectl_cells) if m]
        assert kubectl_wrong == []
        assert len(kubectl_cells) > 150

    def test_the_hub_has_no_secret_and_no_pod_permission_anywhere(self, installed: LocalCluster) -> None:
        for namespace in (HUB, USERS, SYSTEM):
            for target in ("secrets", "pods", "pods/exec"):
                plural, _, sub = target.partition("/")
                args = ["auth", "can-i", "--as", ACCOUNTS["hub"], "--namespace", namespace]
                for verb in ("get", "list", "create"):
                    done = installed.kubectl(*args[:2], verb, plural, *args[2:],
                                             *(["--subresource", sub] if sub else []))
                    assert done.stdout.strip() == "no", (verb, target, namespace)


def test_matrix_names_are_release_names() -> None:
    assert all(re.fullmatch(r"(|jnt-jupyternetes-[a-z-]+)", row.name) for row in documented_matrix())


@pytest.mark.parametrize("values", sorted(p.relative_to(helm.CHART).as_posix()
                                          for p in (helm.CHART / "ci").glob("*-values.yaml")))
def test_every_ci_scenario_is_accepted_by_the_api_server(installed: LocalCluster, values: str) -> None:
    """Each scenario's manifests, sent to the real API server as a server-side dry run (schema, defaulting and
    admission, nothing stored), with cert-manager's CRDs installed from its Go module. Templates are left out: the
    chart installed above has registered a webhook that cannot be reached here, so it refuses them (fail closed);
    tests/chart/test_chart.py judges them offline instead."""
    from jupyternetes.dev import toolchain

    cert_manager = toolchain.module_dir("github.com/cert-manager/cert-manager", toolchain.CERT_MANAGER_VERSION)
    for kind in ("certificates", "issuers"):
        done = installed.kubectl("apply", "--server-side", "-f",
                                 str(cert_manager / "deploy" / "crds" / f"cert-manager.io_{kind}.yaml"))
        assert done.returncode == 0, done.stderr
    installed.kubectl("wait", "--for=condition=Established", "crd/certificates.cert-manager.io",
                      "crd/issuers.cert-manager.io", "--timeout=60s", check=True)
    manifests = helm.rendered(values, release="dry", namespace="dry-system")
    namespaces = {m["metadata"]["namespace"] for m in manifests if m["metadata"].get("namespace")}
    namespaces |= {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"}
    for namespace in sorted(namespaces):
        installed.kubectl("create", "namespace", namespace)  # may exist from another scenario
    existing = ((yaml.safe_load((helm.CHART / values).read_text()).get("operator") or {}).get("sealingKey")
                or {}).get("existingSecret")
    if existing:  # the scenario brings its own sealing key: the chart makes none and mounts that one
        assert not [m for m in manifests if m["kind"] == "Secret" and m["metadata"]["name"].endswith("-sealing-key")]
        operator = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"].endswith(
            "-operator"))
        volumes = {v["name"]: v for v in operator["spec"]["template"]["spec"]["volumes"]}
        assert volumes["sealing-key"]["secret"]["secretName"] == existing
    objects = [m for m in manifests if m["kind"] not in ("Namespace", "JupyterNotebookTemplate")
               and m["kind"] != "CustomResourceDefinition"]
    done = installed.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(objects))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(server dry run)") == len(objects)


WEBHOOK_POLICY = "jupyternetes-webhook-changes-only-its-ca-bundle"


def _tampered(configuration: dict[str, Any], change: str) -> dict[str, Any]:
    """`configuration` with one change that its webhook's own account must not make."""
    changed = copy.deepcopy(configuration)
    first = changed["webhooks"][0]
    if change == "failurePolicy":
        first["failurePolicy"] = "Ignore"
    elif change == "rules":
        first["rules"] = [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*/*"],
                           "scope": "*"}]
    elif change == "url":
        first["clientConfig"].pop("service")
        first["clientConfig"]["url"] = "https://attacker.invalid/mutate"
    elif change == "namespaceSelector":
        first["namespaceSelector"] = {}
    elif change == "matchConditions":
        first.pop("matchConditions", None)
        first["matchConditions"] = [{"name": "never", "expression": "false"}]
    elif change == "timeoutSeconds":
        first["timeoutSeconds"] = 1 if first.get("timeoutSeconds") != 1 else 2
    elif change == "a webhook removed":
        changed["webhooks"] = changed["webhooks"][1:] or [{**first, "name": "other.jupyternetes.kadense.io"}]
    elif change == "annotation":
        changed["metadata"].setdefault("annotations", {})["cert-manager.io/inject-ca-from"] = "attacker/ca"
    elif change == "label":
        changed["metadata"].setdefault("labels", {})["added"] = "by-the-webhook"
    return changed


class TestWebhookConfigurations:
    """With self-managed certificates the webhook's account may update its own two configurations (to write its CA),
    and RBAC cannot narrow that to one field: the admission policy does."""

    @pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
    def test_the_webhooks_account_may_change_its_ca_bundle_and_nothing_else(
        self, installed: LocalCluster, kind: str
    ) -> None:
        rt = kube.KNOWN_TYPES[("admissionregistration.k8s.io/v1", kind)]
        with installed.kube(ADMIN) as admin:
            configuration = admin.get(rt, f"{FULL}-webhook")

            def replace(body: dict[str, Any]) -> subprocess.CompletedProcess[str]:
                return installed.kubectl("replace", "-f", "-", "--as", ACCOUNTS["webhook"], input=json.dumps(body))

            rotated = copy.deepcopy(configuration)
            for webhook in rotated["webhooks"]:
                webhook["clientConfig"]["caBundle"] = base64.b64encode(b"rotated " + kind.encode()).decode()
            done = replace(rotated)
            assert done.returncode == 0, done.stderr
            current = admin.get(rt, f"{FULL}-webhook")
            for change in ("failurePolicy", "rules", "url", "namespaceSelector", "matchConditions", "timeoutSeconds",
                           "a webhook removed", "annotation", "label"):
                done = replace(_tampered(current, change))
                assert done.returncode != 0, f"{kind}: the webhook's account changed its {change}"
                assert f"ValidatingAdmissionPolicy '{WEBHOOK_POLICY}'" in done.stderr, f"{change}: {done.stderr}"
                assert "may only change the caBundle" in done.stderr
            assert admin.get(rt, f"{FULL}-webhook")["webhooks"] == current["webhooks"]

    def test_the_policy_compares_every_field_a_webhook_has_in_this_api_server(self, installed: LocalCluster) -> None:
        """A field the API server's webhooks have and the policy does not compare would be one the webhook's account
        could change: the policy's list is held to the API server's own schema."""
        policy = next(doc for doc in yaml.safe_load_all((helm.CHART / "files" / "admission-policies.yaml").read_text())
                      if doc and doc["metadata"]["name"] == WEBHOOK_POLICY)
        expression = policy["spec"]["validations"][0]["expression"]
        compared = {"name", "clientConfig", *re.findall(r"\bw\.\?(\w+)", expression)}
        compared_client = {"caBundle", *re.findall(r"\bw\.clientConfig\.\?(\w+)", expression)}
        with installed.kube(ADMIN) as admin:
            schemas = admin.request("GET", "/openapi/v3/apis/admissionregistration.k8s.io/v1")["components"]["schemas"]
        prefix = "io.k8s.api.admissionregistration.v1."
        fields = set(schemas[prefix + "ValidatingWebhook"]["properties"]) | set(
            schemas[prefix + "MutatingWebhook"]["properties"])
        assert fields == compared
        assert set(schemas[prefix + "WebhookClientConfig"]["properties"]) == compared_client
