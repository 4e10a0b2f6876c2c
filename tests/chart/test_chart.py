"""The Helm chart, rendered offline: lint, strict schema validation of everything it renders, refusal of
contradictory values, and equality with the definitions the code and `jupyternetes dev up` use (webhook
configurations, RBAC, CRDs, policies)."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jupyternetes import admission
from jupyternetes.dev import cluster as cluster_mod
from jupyternetes.dev import rbac, toolchain
from tests.support import helm
from tests.support.k8s_schema import Validator

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.relative_to(helm.CHART).as_posix() for p in (helm.CHART / "ci").glob("*-values.yaml"))


@pytest.fixture(scope="module")
def validator() -> Validator:
    cert_manager = toolchain.module_dir("github.com/cert-manager/cert-manager", toolchain.CERT_MANAGER_VERSION)
    return Validator([*sorted((REPO / "crds").glob("*.yaml")),
                      *(cert_manager / "deploy" / "crds" / f"cert-manager.io_{kind}.yaml"
                        for kind in ("certificates", "issuers"))])


class TestRendering:
    def test_there_are_several_ci_scenarios(self) -> None:
        assert len(SCENARIOS) >= 3, SCENARIOS

    @pytest.mark.parametrize("values", [None, *SCENARIOS])
    def test_helm_lint_passes_strictly(self, values: str | None) -> None:
        args = ["lint", "--strict", str(helm.CHART), "--namespace", "jupyternetes", "--kube-version", helm.KUBE_VERSION]
        if values:
            args += ["--values", str(helm.CHART / values)]
        done = helm.helm(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout

    @pytest.mark.parametrize("values", [None, *SCENARIOS])
    def test_every_rendered_manifest_passes_strict_schema_validation(self, values: str | None,
                                                                     validator: Validator) -> None:
        manifests = helm.rendered(*([values] if values else []))
        assert len(manifests) > 20
        errors = [error for manifest in manifests for error in validator.errors(manifest)]
        assert errors == []

    def test_the_validator_catches_a_misspelt_field(self, validator: Validator) -> None:
        deployment = helm.by_kind(helm.rendered(), "Deployment")[("jupyternetes", "jupyternetes-operator")]
        deployment["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
        assert any("'imagee' was unexpected" in e for e in validator.errors(deployment))


class TestRefusedValues:
    @pytest.mark.parametrize(("sets", "message"), [
        ({"webhook__replicas": "0"}, "at '/webhook/replicas': minimum: got 0, want 1"),
        ({"webhook__pdb__minAvailable": "2"}, "webhook.pdb.minAvailable (2) must be lower than webhook.replicas (2)"),
        ({"hub__namespace": "jupyternetes"}, "hub.namespace must differ from the release namespace"),
        ({"templates__namespace": "jupyternetes"}, "templates.namespace must differ from the release namespace"),
        ({"operator__namespaces": "{users}"}, "lists [users] but not jupyterhub, where the hub creates instances"),
        ({"hub__instanceNamespace": "notebooks", "operator__namespaces": "{jupyterhub}"},
         "lists [jupyterhub] but not notebooks, where the hub creates instances"),
        ({"hub__instanceNamespace": "kube-system"}, "hub.instanceNamespace must differ from the release namespace"),
        ({"operator__namespaces": "{jupyterhub,kube-system}"}, "operator.namespaces must not include kube-system"),
        ({"operator__namespaces": "{jupyterhub}", "operator__clusterWide": "true"},
         "operator.clusterWide serves every namespace"),
        ({"operator__allowedKinds": "{apps/v1/Deployment}"},
         "at '/operator/allowedKinds/0': value must be one of 'v1/Service', 'v1/ConfigMap'"),
        ({"webhook__certificates__rotateBeforeDays": "400"}, "rotateBeforeDays must be shorter"),
        ({"webhook__unknownKey": "1"}, "additional properties 'unknownKey' not allowed"),
        ({"operator__securityContext__allowPrivilegeEscalation": "true"}, "allowPrivilegeEscalation"),
        ({"webhook__certificates__mode": "manual"}, "mode"),
        # Found by a red team: with webhook.exemptNamespaces emptied, the operator's Roles (Secrets get and create)
        # reached kube-system; a template namespace the webhook does not judge; components sharing an identity;
        # everyone as an instance creator or an officer.
        ({"webhook__exemptNamespaces": "{other}", "operator__namespaces": "{jupyterhub,kube-system}"},
         "operator.namespaces must not be kube-system: Kubernetes' own namespaces are never Jupyternetes'"),
        ({"webhook__exemptNamespaces": "{other}", "templates__namespace": "kube-public",
          "templates__createNamespace": "false"}, "templates.namespace must not be kube-public"),
        ({"webhook__exemptNamespaces": "{kube-system,jupyternetes-templates}"},
         "templates.namespace (jupyternetes-templates) is in webhook.exemptNamespaces"),
        ({"templates__namespace": "kube-system", "templates__createNamespace": "false"},
         "templates.namespace (kube-system) is in webhook.exemptNamespaces"),
        ({"operator__serviceAccount__name": "jupyternetes-webhook", "operator__serviceAccount__create": "false"},
         "operator.serviceAccount.name and webhook.serviceAccount.name are both jupyternetes-webhook"),
        ({"webhook__serviceAccount__name": "default"}, "webhook.serviceAccount.name must not be default"),
        ({"operator__serviceAccount__name": "default"}, "operator.serviceAccount.name must not be default"),
        ({"webhook__instanceCreators": "{group:system:authenticated}"},
         "webhook.instanceCreators: group:system:authenticated is a Kubernetes system group"),
        ({"webhook__instanceCreators": "{hub\\,admin}"}, "has a comma"),
        ({"people__officers__groups": "{system:serviceaccounts}"},
         "people.officers.groups: system:serviceaccounts is a Kubernetes system group"),
        ({"admissionPolicies__enabled": "false"}, "webhook.certificates.mode=self needs admissionPolicies.enabled"),
        ({"people__officers__groups": "{system:serviceaccounts:jupyterhub}"},
         "people.officers.groups: system:serviceaccounts:jupyterhub is a Kubernetes system group"),
        ({"people__officers__users": "{system:anonymous}"},
         "people.officers.users: system:anonymous is a Kubernetes system user"),
        ({"people__officers__users": "{system:node:n1}"}, "people.officers.users: system:node:n1 is a Kubernetes"),
        ({"webhook__instanceCreators": "{system:serviceaccount:jupyterhub:default}"},
         "a namespace's default service account"),
        ({"hub__serviceAccountName": "default"}, "hub.serviceAccountName must not be default"),
        ({"people__officers__users": "{system:serviceaccount:jupyternetes:jupyternetes-webhook}"},
         "JupyterHub or a Jupyternetes component"),
        ({"webhook__instanceCreators": "{system:serviceaccount:jupyternetes:jupyternetes-operator}"},
         "or a Jupyternetes component; name the hub's account"),
        ({"networkPolicies__notebooks__ingressFrom[0]__podSelector__matchLabels__component": "proxy"},
         "networkPolicies.notebooks.ingressFrom: a podSelector alone means pods in the notebooks' own namespace"),
        ({"networkPolicies__notebooks__hub__peers[0]__podSelector__matchLabels__component": "hub"},
         "networkPolicies.notebooks.hub.peers: a podSelector alone means pods in the notebooks' own namespace"),
    ])
    def test_contradictory_or_unknown_values_fail_with_a_message_naming_them(self, sets: dict[str, str],
                                                                              message: str) -> None:
        done = helm.template(**sets)
        assert done.returncode != 0
        assert message in done.stderr, done.stderr


class TestSecurityShape:
    def test_every_container_runs_restricted(self) -> None:
        for values in [None, *SCENARIOS]:
            for deployment in helm.by_kind(helm.rendered(*([values] if values else [])), "Deployment").values():
                pod = deployment["spec"]["template"]["spec"]
                assert pod["securityContext"]["runAsNonRoot"] is True
                assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
                for container in pod["containers"]:
                    context = container["securityContext"]
                    assert context["allowPrivilegeEscalation"] is False
                    assert context["capabilities"] == {"drop": ["ALL"]}
                    assert context["readOnlyRootFilesystem"] is True
                    assert "resources" in container and "limits" in container["resources"]

    def test_the_webhook_has_two_replicas_and_a_disruption_budget_by_default(self) -> None:
        manifests = helm.rendered()
        webhook = helm.by_kind(manifests, "Deployment")[("jupyternetes", "jupyternetes-webhook")]
        assert webhook["spec"]["replicas"] >= 2
        assert [c["name"] for c in webhook["spec"]["template"]["spec"]["containers"]] == ["webhook", "opa"]
        pdb = helm.by_kind(manifests, "PodDisruptionBudget")[("jupyternetes", "jupyternetes-webhook")]
        assert pdb["spec"]["minAvailable"] == 1

    def test_network_policies_allow_the_webhook_port_in_and_only_the_api_server_out(self) -> None:
        policies = helm.by_kind(helm.rendered("ci/hardened-values.yaml"), "NetworkPolicy")
        webhook = policies[("jupyternetes", "jupyternetes-webhook")]["spec"]
        assert {p["port"] for rule in webhook["ingress"] for p in rule["ports"]} == {8443, 8282}
        components = {key: policy for key, policy in policies.items() if key[0] == "jupyternetes"}
        assert set(components) == {("jupyternetes", "jupyternetes-webhook"), ("jupyternetes", "jupyternetes-operator")}
        for policy in components.values():
            egress = policy["spec"]["egress"]
            assert [peer for rule in egress for peer in rule["to"]] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
            assert {p["port"] for rule in egress for p in rule["ports"]} == {443, 6443}

    def test_cert_manager_mode_injects_the_ca_and_mounts_the_certificate(self) -> None:
        manifests = helm.rendered("ci/cert-manager-values.yaml")
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            configuration = helm.by_kind(manifests, kind)[(None, "jupyternetes-webhook")]
            assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == \
                "jupyternetes/jupyternetes-webhook-serving"
            assert all("caBundle" not in w["clientConfig"] for w in configuration["webhooks"])
        certificate = helm.by_kind(manifests, "Certificate")[("jupyternetes", "jupyternetes-webhook-serving")]
        assert certificate["spec"]["issuerRef"] == {"name": "letsencrypt-internal", "kind": "ClusterIssuer"}
        env = {e["name"]: e.get("value") for e in helm.by_kind(manifests, "Deployment")[
            ("jupyternetes", "jupyternetes-webhook")]["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["JUPYTERNETES_WEBHOOK_TLS_CERT_FILE"] == "/etc/jupyternetes/tls/tls.crt"
        assert env["JUPYTERNETES_WEBHOOK_MANAGE_CONFIGURATIONS"] == "false"
        assert not helm.by_kind(manifests, "Secret").get(("jupyternetes", "jupyternetes-webhook-tls"))


def _strip(configuration: dict[str, Any]) -> dict[str, Any]:
    configuration = yaml.safe_load(yaml.safe_dump(configuration))
    configuration["metadata"] = {"name": configuration["metadata"]["name"]}
    for webhook in configuration["webhooks"]:
        webhook["clientConfig"].pop("caBundle", None)
    return configuration


class TestSameAsTheCode:
    def test_webhook_configurations_equal_the_codes_definition(self) -> None:
        manifests = helm.rendered("ci/hardened-values.yaml")
        validating, mutating = admission.configurations(
            name="jupyternetes-webhook", namespace="jupyternetes",
            operator_user="system:serviceaccount:jupyternetes:jupyternetes-operator",
            service_name="jupyternetes-webhook", exempt_namespaces=["kube-system", "kube-node-lease"],
            timeout_seconds=3)
        chart_validating = helm.by_kind(manifests, "ValidatingWebhookConfiguration")[(None, "jupyternetes-webhook")]
        chart_mutating = helm.by_kind(manifests, "MutatingWebhookConfiguration")[(None, "jupyternetes-webhook")]
        assert _strip(chart_validating) == _strip(validating)
        assert _strip(chart_mutating) == _strip(mutating)

    def test_dev_up_gives_its_identities_exactly_the_charts_rbac(self) -> None:
        """The chart for a release `jupyternetes` laid out as the local control plane is, against rbac.py."""
        manifests = helm.rendered(release="jupyternetes", namespace="jupyternetes", hub__namespace="default",
                                  hub__serviceAccountName=rbac.HUB_ACCOUNT, templates__namespace="kadense",
                                  people__officers__groups="{jupyternetes:officers}", operator__clusterWide="true")
        dev = rbac.dev_objects("jupyternetes", "kadense", "default", "jupyternetes:officers")

        def index(objects: list[dict[str, Any]]) -> dict[tuple[str, str | None, str], Any]:
            out: dict[tuple[str, str | None, str], Any] = {}
            for obj in objects:
                key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
                if obj["kind"] in ("Role", "ClusterRole"):
                    out[key] = obj["rules"]
                elif obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
                    out[key] = (obj["roleRef"], obj["subjects"])
            return out

        assert index(manifests) == index(dev)
        accounts = {(m["metadata"]["namespace"], m["metadata"]["name"])
                    for m in manifests if m["kind"] == "ServiceAccount"}
        dev_accounts = set(rbac.service_accounts("jupyternetes", "default").values())
        # The hub's account comes from Zero to JupyterHub, not from this chart.
        assert accounts == dev_accounts - {("default", rbac.HUB_ACCOUNT)}

    def test_dev_up_binds_exactly_the_charts_admission_policies_with_the_same_parameters(self) -> None:
        """The same policies, bindings and parameters, for a release `jupyternetes` laid out as the local control
        plane is."""
        manifests = helm.rendered(release="jupyternetes", namespace="jupyternetes", hub__namespace="default",
                                  hub__serviceAccountName=rbac.HUB_ACCOUNT, templates__namespace="kadense",
                                  operator__clusterWide="true")
        dev = cluster_mod.dev_admission_policies(cluster_mod.ClusterConfig())

        def index(objects: list[dict[str, Any]]) -> dict[tuple[str, str | None, str], Any]:
            kinds = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
            return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]):
                    o.get("spec") or o.get("data") for o in objects
                    if o["kind"] in kinds or o["metadata"]["name"].endswith("-admission-policies")}

        chart, local = index(manifests), index(dev)
        assert len(local) == 15  # seven policies, seven bindings, one parameter ConfigMap
        assert chart == local

    def test_notebooks_can_run_in_a_namespace_of_their_own_out_of_the_operators_reach_of_the_hub(self) -> None:
        """With hub.instanceNamespace, the hub's Role and the operator's Roles are there, and the operator has no
        Secret rights in the hub's own namespace (only its sealing ConfigMap)."""
        manifests = helm.rendered(release="jupyternetes", namespace="jupyternetes", hub__instanceNamespace="notebooks")
        roles = helm.by_kind(manifests, "Role")
        assert ("notebooks", "jupyternetes-hub") in roles and ("jupyterhub", "jupyternetes-hub") not in roles
        hub_namespace_rules = [rule for (ns, _), role in roles.items() if ns == "jupyterhub" for rule in role["rules"]]
        assert hub_namespace_rules == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"],
                                        "resourceNames": ["jupyternetes-sealing"]}]
        assert any(r["resources"] == ["secrets"] for r in roles[("notebooks", "jupyternetes-operator")]["rules"])
        operator = helm.by_kind(manifests, "Deployment")[("jupyternetes", "jupyternetes-operator")]
        env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["JUPYTERNETES_OPERATOR_NAMESPACES"] == '["notebooks"]'
        params = helm.by_kind(manifests, "ConfigMap")[("jupyternetes", "jupyternetes-admission-policies")]["data"]
        assert params["instanceNamespaces"] == "notebooks"

    def test_the_admission_policies_can_be_left_out(self) -> None:
        """Only with cert-manager's certificates: with self-managed ones the webhook may update its own configurations,
        and only an admission policy keeps it to their caBundle (refused below)."""
        manifests = helm.rendered("ci/cert-manager-values.yaml", admissionPolicies__enabled="false")
        kinds = {m["kind"] for m in manifests}
        assert "ValidatingAdmissionPolicy" not in kinds and "ValidatingAdmissionPolicyBinding" not in kinds
        webhook_rules = helm.by_kind(manifests, "ClusterRole")[(None, "jupyternetes-webhook")]["rules"]
        assert not any("admissionregistration.k8s.io" in rule["apiGroups"] for rule in webhook_rules)

    def test_chart_crds_are_the_crds(self) -> None:
        for crd in (REPO / "crds").glob("*.yaml"):
            assert filecmp.cmp(crd, helm.CHART / "crds" / crd.name, shallow=False), \
                f"charts/jupyternetes/crds/{crd.name} is stale: cp crds/*.yaml charts/jupyternetes/crds/"
        assert {p.name for p in (helm.CHART / "crds").iterdir()} == {p.name for p in (REPO / "crds").glob("*.yaml")}

    def test_chart_policies_are_the_shipped_policies(self) -> None:
        expected = {"data.yaml": (REPO / "policies" / "data.yaml").read_text()}
        for rego in (REPO / "policies").rglob("*.rego"):
            if rego.name.endswith("_test.rego") or "samples" in rego.parts:
                continue
            expected[f"{rego.parent.name}_{rego.name}"] = rego.read_text()
        actual = {p.name: p.read_text() for p in (helm.CHART / "files" / "policies").iterdir()}
        assert actual == expected, "charts/jupyternetes/files/policies is stale: run scripts/sync-chart"


class TestDefaultTemplate:
    def test_the_default_template_passes_the_charts_own_policies(self, tmp_path: Path) -> None:
        manifests = helm.rendered()
        policies = helm.by_kind(manifests, "ConfigMap")[("jupyternetes", "jupyternetes-webhook-policies")]
        policy_dir = tmp_path / "policies"
        policy_dir.mkdir()
        for name, text in policies["data"].items():
            (policy_dir / name).write_text(text)
        template = helm.by_kind(manifests, "JupyterNotebookTemplate")[("jupyternetes-templates", "jupyter-notebook")]
        (tmp_path / "template.yaml").write_text(yaml.safe_dump(template))
        done = subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policy_dir),
                               str(tmp_path / "template.yaml")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        # The same policies, with the hardened scenario's data, refuse it (no digest, another registry).
        hardened = helm.by_kind(helm.rendered("ci/hardened-values.yaml"), "ConfigMap")[
            ("jupyternetes", "jupyternetes-webhook-policies")]
        (policy_dir / "data.yaml").write_text(hardened["data"]["data.yaml"])
        done = subprocess.run([sys.executable, "-m", "jupyternetes", "policy", "test", "--policies", str(policy_dir),
                               str(tmp_path / "template.yaml")], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "quay.io/jupyter/base-notebook" in done.stdout


class TestSettingsFromTheChart:
    @pytest.mark.parametrize("values", [None, *SCENARIOS])
    def test_every_environment_variable_the_chart_sets_is_a_valid_setting(self, values: str | None,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """The Deployments' env, loaded by the components' own settings objects (extra="forbid" refuses a name
        that is not a setting; validators refuse bad values)."""
        from jupyternetes.operator.settings import OperatorSettings
        from jupyternetes.webhook.settings import WebhookSettings

        deployments = helm.by_kind(helm.rendered(*([values] if values else [])), "Deployment")
        for name, settings_class, prefix in (("jupyternetes-operator", OperatorSettings, "JUPYTERNETES_OPERATOR_"),
                                             ("jupyternetes-webhook", WebhookSettings, "JUPYTERNETES_WEBHOOK_")):
            container = deployments[("jupyternetes", name)]["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value", "from-field") for e in container["env"]}
            assert all(key.startswith(prefix) for key in env)
            for key in [k for k in os.environ if k.startswith(prefix)]:
                monkeypatch.delenv(key)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            settings = settings_class()
            for key in env:
                assert key.removeprefix(prefix).lower() in settings_class.model_fields, key
            if settings_class is OperatorSettings:
                assert str(settings.sealing_key_file) == "/etc/jupyternetes/sealing/sealing.key"
                hub = (yaml.safe_load((helm.CHART / values).read_text()) if values else {}).get("hub") or {}
                assert settings.public_key_configmap == f"{hub.get('namespace', 'jupyterhub')}/jupyternetes-sealing"
