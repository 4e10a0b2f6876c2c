"""Where placeholders are substituted, and what happens to everything else."""

from __future__ import annotations

import pytest

from jupyternetes import naming, render
from tests.render.helpers import instance, one_container, pod_entry, template

USER = {"user": "jovyan", "id": "42"}


def _pod(spec: dict, variables: dict[str, str] | None = None, **entry: object) -> dict:
    manifests = render.render(template(pods=[pod_entry(spec, **entry)]), instance(variables or USER))
    return manifests.pods[0].manifest


def test_substitutes_in_image_command_args_env_and_mount_paths() -> None:
    spec = one_container(
        image="registry.example/{user}:1",
        command=["start-{user}.sh"],
        args=["--id={id}", "--user", "{user}"],
        env=[{"name": "USER_{id}", "value": "{user}@{id}"}],
        volumeMounts=[{"name": "home-{user}", "mountPath": "/home/{user}/work"}],
        workingDir="/home/{user}",
    )
    container = _pod(spec)["spec"]["containers"][0]
    assert container["image"] == "registry.example/jovyan:1"
    assert container["command"] == ["start-jovyan.sh"]
    assert container["args"] == ["--id=42", "--user", "jovyan"]
    assert container["env"] == [{"name": "USER_42", "value": "jovyan@42"}]
    assert container["volumeMounts"] == [{"name": "home-jovyan", "mountPath": "/home/jovyan/work"}]
    assert container["workingDir"] == "/home/jovyan"


def test_substitutes_in_label_and_annotation_keys_and_values() -> None:
    pod = _pod(one_container(), labels={"example.org/user-{id}": "{user}"},
               annotations={"note-{user}": "hello {user}"})
    assert pod["metadata"]["labels"]["example.org/user-42"] == "jovyan"
    assert pod["metadata"]["annotations"]["note-jovyan"] == "hello jovyan"


def test_substitutes_in_nested_label_maps_such_as_an_ephemeral_volume_claim_template() -> None:
    spec = one_container()
    spec["volumes"] = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
        "metadata": {"labels": {"owner-{id}": "{user}"}}, "spec": {"accessModes": ["ReadWriteOnce"]}}}}]
    volume = _pod(spec)["spec"]["volumes"][0]
    assert volume["ephemeral"]["volumeClaimTemplate"]["metadata"]["labels"] == {"owner-42": "jovyan"}


def test_double_braces_are_literal_braces() -> None:
    container = _pod(one_container(args=["{{not-a-variable}}", "{{{user}}}", "}}{{"]))["spec"]["containers"][0]
    assert container["args"] == ["{not-a-variable}", "{jovyan}", "}{"]


def test_a_value_is_never_expanded_again() -> None:
    container = _pod(one_container(args=["{user}"]), {"user": "{id}", "id": "42"})["spec"]["containers"][0]
    assert container["args"] == ["{id}"]


def test_numbers_and_booleans_keep_their_types() -> None:
    spec = one_container(ports=[{"containerPort": 8888, "name": "http"}], tty=True)
    spec["terminationGracePeriodSeconds"] = 30
    spec["hostname"] = None
    pod = _pod(spec)
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 8888
    assert pod["spec"]["containers"][0]["tty"] is True
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert pod["spec"]["hostname"] is None


def test_rendering_does_not_modify_the_template() -> None:
    tpl = template(pods=[pod_entry(one_container(args=["{user}"]))])
    before = tpl.model_dump()
    render.render(tpl, instance(USER))
    assert tpl.model_dump() == before


class TestUnknownVariables:
    def test_names_the_variable_and_the_field_path(self) -> None:
        with pytest.raises(render.UnknownVariableError) as caught:
            _pod(one_container(args=["ok", "--home=/home/{jupyterhub.user.name}"]))
        assert caught.value.variables == ["jupyterhub.user.name"]
        assert "spec.pods[0].spec.containers[0].args[1]" in str(caught.value)
        assert "'jupyterhub.user.name'" in str(caught.value)

    def test_reports_every_unknown_variable_at_once(self) -> None:
        with pytest.raises(render.UnknownVariableError) as caught:
            _pod(one_container(image="{registry}/x", args=["{flag}"]))
        assert caught.value.variables == ["registry", "flag"]
        assert len(caught.value.problems) == 2

    def test_in_a_label_key(self) -> None:
        with pytest.raises(render.UnknownVariableError, match=r"spec.pods\[0\].labels\['team-\{team\}'\] \(key\)"):
            _pod(one_container(), labels={"team-{team}": "x"})


class TestMalformedBraces:
    @pytest.mark.parametrize("text", ["{unclosed", "closed}", "{has space}", "{}", "a{b{c}}"])
    def test_a_lone_brace_is_an_error_that_explains_escaping(self, text: str) -> None:
        with pytest.raises(render.RenderError, match=r"spec.pods\[0\].spec.containers\[0\].args\[0\]: unmatched"):
            _pod(one_container(args=[text]))

    def test_braces_in_a_field_name_outside_labels_and_annotations(self) -> None:
        spec = one_container()
        spec["nodeSelector"] = {"{user}": "x"}
        with pytest.raises(render.RenderError, match="braces in a field name"):
            _pod(spec)


class TestLabelsAndAnnotationsOfTheirOwn:
    def test_reserved_labels_cannot_be_set_by_a_template(self) -> None:
        with pytest.raises(render.RenderError, match="jupyternetes.kadense.io/instance.*set by Jupyternetes"):
            _pod(one_container(), labels={"jupyternetes.kadense.io/instance": "someone-else"})

    def test_a_variable_cannot_turn_a_label_key_into_a_reserved_one(self) -> None:
        tpl = template(pods=[pod_entry(one_container(), labels={"{key}": "other"})])
        with pytest.raises(render.RenderError, match="set by Jupyternetes"):
            render.render(tpl, instance({"key": "app.kubernetes.io/managed-by"}))

    def test_two_label_keys_that_collide_after_substitution_are_an_error(self) -> None:
        with pytest.raises(render.RenderError, match="both become"):
            render.render(template(pods=[pod_entry(one_container(), labels={"a-{x}": "1", "a-b": "2"})]),
                          instance({"x": "b"}))

    def test_template_labels_that_jupyternetes_does_not_reserve_are_kept(self) -> None:
        pod = _pod(one_container(), labels={"jupyternetes.kadense.io/userId": "{id}"})
        assert pod["metadata"]["labels"]["jupyternetes.kadense.io/userId"] == "42"


class TestDerivedVariables:
    def test_instance_template_pod_and_pvc_names_are_available(self) -> None:
        tpl = template(
            pvcs=[{"name": "workspace", "spec": {"accessModes": ["ReadWriteOnce"]}}],
            pods=[pod_entry(one_container(args=[
                "{jupyternetes.instance.name}", "{jupyternetes.instance.namespace}",
                "{jupyternetes.template.name}", "{jupyternetes.template.namespace}",
                "{jupyternetes.pvcs.workspace}", "{jupyternetes.pods.notebook}",
            ]))],
        )
        manifests = render.render(tpl, instance(name="inst", namespace="users"))
        assert manifests.pods[0].manifest["spec"]["containers"][0]["args"] == [
            "inst", "users", "tpl", "templates",
            naming.object_name("inst", "workspace"), naming.object_name("inst", "notebook"),
        ]
        assert manifests.pods[0].name == naming.object_name("inst", "notebook")

    def test_an_instance_may_repeat_a_derived_variable_with_its_true_value(self) -> None:
        render.render(template(pods=[pod_entry(one_container())]),
                      instance({"jupyternetes.instance.name": "inst"}, name="inst"))

    def test_an_instance_may_not_contradict_a_derived_variable(self) -> None:
        with pytest.raises(render.RenderError, match="derived by Jupyternetes as 'inst'"):
            render.render(template(pods=[pod_entry(one_container())]),
                          instance({"jupyternetes.instance.name": "someone-else"}, name="inst"))

    def test_an_instance_may_not_invent_variables_in_the_reserved_prefix(self) -> None:
        with pytest.raises(render.RenderError, match="reserved"):
            render.render(template(pods=[pod_entry(one_container())]),
                          instance({"jupyternetes.pvcs.other": "stolen-claim"}))


class TestOtherResources:
    def test_body_fields_go_to_the_top_level_and_are_substituted(self) -> None:
        tpl = template(others=[{
            "name": "svc", "apiVersion": "v1", "kind": "Service", "labels": {"user": "{user}"},
            "body": {"spec": {"selector": {"jupyternetes.kadense.io/instance": "{jupyternetes.instance.name}"},
                              "ports": [{"port": 80, "targetPort": 8888}]}},
        }])
        (svc,) = render.render(tpl, instance(USER)).others
        assert svc.manifest["kind"] == "Service"
        assert svc.manifest["metadata"]["labels"]["user"] == "jovyan"
        assert svc.manifest["spec"] == {"selector": {"jupyternetes.kadense.io/instance": "inst"},
                                        "ports": [{"port": 80, "targetPort": 8888}]}

    def test_body_may_not_carry_metadata_or_type(self) -> None:
        tpl = template(others=[{"name": "cm", "apiVersion": "v1", "kind": "ConfigMap",
                                "body": {"metadata": {"name": "x"}, "data": {}}}])
        with pytest.raises(render.RenderError, match=r"otherResources\[0\].body.metadata"):
            render.render(tpl, instance())


class TestSealedVariables:
    @staticmethod
    def _sealed_instance() -> object:
        sealed = instance()
        sealed.spec.sealed_variables = {"jupyterhub.api_token": "c2VhbGVk", "jupyterhub.env.JPY_API_TOKEN": "c2VhbGVk"}
        return sealed

    def test_an_env_value_that_is_exactly_the_placeholder_reads_the_secret(self) -> None:
        spec = one_container(env=[{"name": "JUPYTERHUB_API_TOKEN", "value": "{jupyterhub.api_token}"},
                                  {"name": "JPY_API_TOKEN", "value": "{jupyterhub.env.JPY_API_TOKEN}"}])
        pod = render.render(template(pods=[pod_entry(spec)]), self._sealed_instance()).pods[0].manifest
        secret = naming.object_name("inst", "secret")
        assert pod["spec"]["containers"][0]["env"] == [
            {"name": "JUPYTERHUB_API_TOKEN",
             "valueFrom": {"secretKeyRef": {"name": secret, "key": "jupyterhub.api_token"}}},
            {"name": "JPY_API_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "JPY_API_TOKEN"}}},
        ]

    def test_any_other_use_of_a_sealed_variable_is_refused(self) -> None:
        spec = one_container(args=["--token={jupyterhub.api_token}"])
        with pytest.raises(render.RenderError, match="sealed variable 'jupyterhub.api_token'"):
            render.render(template(pods=[pod_entry(spec)]), self._sealed_instance())

    def test_the_secret_holds_opened_values_and_the_hub_environment_under_env_names(self) -> None:
        sealed = self._sealed_instance()
        sealed.spec.variables["jupyterhub.env.JUPYTERHUB_API_URL"] = "http://hub:8081/hub/api"
        secret = render.instance_secret(sealed, {"jupyterhub.api_token": "t0k", "jupyterhub.env.JPY_API_TOKEN": "t0k"})
        assert secret is not None
        assert secret["metadata"]["name"] == naming.object_name("inst", "secret")
        assert secret["stringData"] == {"JPY_API_TOKEN": "t0k", "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
                                        "jupyterhub.api_token": "t0k"}

    def test_no_secret_when_there_is_nothing_to_keep(self) -> None:
        assert render.instance_secret(instance({"user": "x"}), {}) is None

    def test_the_secret_name_is_a_derived_variable(self) -> None:
        spec = one_container(envFrom=[{"secretRef": {"name": "{jupyternetes.secret}"}}])
        pod = render.render(template(pods=[pod_entry(spec)]), instance()).pods[0].manifest
        assert pod["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": naming.object_name("inst",
                                                                                                        "secret")}}]
