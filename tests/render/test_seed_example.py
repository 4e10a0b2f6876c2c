"""The seed's template and instance render to the PVC and pod that the announcement describes."""

from __future__ import annotations

from tests import seeds
from tests.seeds import REPO_ROOT

from jupyternetes import models, naming, render


def _render_seed() -> render.Manifests:
    return render.render(models.parse_template(seeds.seed_template()), models.parse_instance(seeds.seed_instance()))


def test_examples_folder_holds_the_seed_yaml_verbatim() -> None:
    template, instance = seeds.seed_yaml_blocks()
    assert (REPO_ROOT / "examples" / "00-seed" / "template.yaml").read_text() == template
    assert (REPO_ROOT / "examples" / "00-seed" / "instance.yaml").read_text() == instance


def test_seed_renders_one_pvc_and_one_pod_and_nothing_else() -> None:
    manifests = _render_seed()
    assert [obj.kind for obj in manifests.all()] == ["PersistentVolumeClaim", "Pod"]


def test_seed_pvc_is_the_workspace_with_the_users_label() -> None:
    (pvc,) = _render_seed().pvcs
    name = naming.object_name("8dc366d8a0f05869bfdb6e7eb3d83f65", "workspace")
    assert pvc.manifest == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {
                "jupyternetes.kadense.io/userId": "1",
                "app.kubernetes.io/managed-by": "jupyternetes",
                "jupyternetes.kadense.io/instance": "8dc366d8a0f05869bfdb6e7eb3d83f65",
                "jupyternetes.kadense.io/template": "default-template",
                "jupyternetes.kadense.io/template-namespace": "kadense",
                "jupyternetes.kadense.io/entry": "workspace",
                "jupyternetes.kadense.io/entry-kind": "pvc",
            },
            "annotations": {"jupyternetes.kadense.io/instance-name": "8dc366d8a0f05869bfdb6e7eb3d83f65"},
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def test_seed_pod_mounts_the_generated_pvc_and_has_every_variable_filled_in() -> None:
    manifests = _render_seed()
    pod = manifests.pods[0].manifest
    assert pod["metadata"]["name"] == naming.object_name("8dc366d8a0f05869bfdb6e7eb3d83f65", "notebook")
    assert pod["metadata"]["labels"]["jupyternetes.kadense.io/userId"] == "1"
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["JPY_API_TOKEN"] == "852dc4bd4e4e4360b7ae94cffa4f1c76"
    assert env["JUPYTERHUB_API_TOKEN"] == "852dc4bd4e4e4360b7ae94cffa4f1c76"
    assert env["JUPYTERHUB_ACTIVITY_URL"] == "http://hub.kadense.svc.cluster.local:8081/hub/api/users/jovyan/activity"
    assert env["JUPYTERHUB_API_URL"] == "http://hub.kadense.svc.cluster.local:8081/hub/api"
    assert env["JUPYTERHUB_CLIENT_ID"] == "jupyterhub-user-jovyan"
    assert env["JUPYTERHUB_OAUTH_SCOPES"] == '["access:servers!server=jovyan/", "access:servers!user=jovyan"]'
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == "/user/jovyan/"
    assert env["JUPYTERHUB_USER"] == "jovyan"
    assert env["JUPYTERHUB_HOST"] is None  # an env entry without a value stays without one
    assert env["MEM_GUARANTEE"] == "1073741824"
    assert container["image"] == "quay.io/jupyter/datascience-notebook:hub-5.2.1"
    assert container["ports"] == [{"containerPort": 8888, "name": "http", "protocol": "TCP"}]
    assert container["volumeMounts"] == [{"mountPath": "/home/jovyan/work", "name": "workspace-pvc"}]
    assert pod["spec"]["volumes"] == [
        {"name": "workspace-pvc", "persistentVolumeClaim": {"claimName": manifests.pvcs[0].name}}
    ]


def test_seed_rendering_leaves_no_placeholder_behind() -> None:
    for obj in _render_seed().all():
        assert render.variables_used(obj.manifest) == set()
