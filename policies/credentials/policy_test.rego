package jupyternetes.policies.credentials_test

import data.jupyternetes.policies.credentials

config := {"credentials": {"allowed_secrets": ["shared-*"], "allowed_configmaps": ["course-config"], "allowed_image_pull_secrets": ["registry"], "allow_gmsa": false}}

pod(spec) := {"kind": "Pod", "own_secret": "jupyter-a-secret-1", "own_configmaps": ["jupyter-a-settings-2"], "pods": [{"path": "spec", "spec": spec}]}

container(extra) := {"containers": [object.union({"name": "c", "image": "x"}, extra)]}

test_own_secret_by_env_from_allowed if {
	count(credentials.deny) == 0 with input as pod(container({"envFrom": [{"secretRef": {"name": "jupyter-a-secret-1"}}]})) with data.jupyternetes.config as config
}

test_own_secret_in_a_template_allowed if {
	doc := {"kind": "JupyterNotebookTemplate", "own_secret": "{jupyternetes.secret}", "pods": [{"path": "spec.pods[0].spec", "spec": container({"envFrom": [{"secretRef": {"name": "{jupyternetes.secret}"}}]})}]}
	count(credentials.deny) == 0 with input as doc with data.jupyternetes.config as config
}

test_listed_secret_allowed if {
	count(credentials.deny) == 0 with input as pod(container({"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "shared-data", "key": "k"}}}]})) with data.jupyternetes.config as config
}

test_the_hubs_secret_by_env_denied if {
	some d in credentials.deny with input as pod(container({"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "hub", "key": "k"}}}]})) with data.jupyternetes.config as config
	d.path == "spec.containers[0].env[0].valueFrom.secretKeyRef.name"
	contains(d.message, "\"hub\"")
}

test_another_users_secret_by_volume_denied if {
	spec := object.union(container({}), {"volumes": [{"name": "s", "secret": {"secretName": "jupyter-b-secret-3"}}]})
	some d in credentials.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].secret.secretName"
}

test_secret_in_a_projected_volume_denied if {
	spec := object.union(container({}), {"volumes": [{"name": "p", "projected": {"sources": [{"secret": {"name": "hub"}}]}}]})
	some d in credentials.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].projected.sources[0].secret.name"
}

test_own_configmap_allowed if {
	count(credentials.deny) == 0 with input as pod(container({"envFrom": [{"configMapRef": {"name": "jupyter-a-settings-2"}}]})) with data.jupyternetes.config as config
}

test_listed_configmap_allowed if {
	spec := object.union(container({}), {"volumes": [{"name": "c", "configMap": {"name": "course-config"}}]})
	count(credentials.deny) == 0 with input as pod(spec) with data.jupyternetes.config as config
}

test_other_configmap_denied if {
	some d in credentials.deny with input as pod(container({"env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "hub", "key": "jupyterhub_config.py"}}}]})) with data.jupyternetes.config as config
	d.path == "spec.containers[0].env[0].valueFrom.configMapKeyRef.name"
}

test_unlisted_image_pull_secret_denied if {
	spec := object.union(container({}), {"imagePullSecrets": [{"name": "someone-elses"}]})
	some d in credentials.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.imagePullSecrets[0].name"
}

test_listed_image_pull_secret_allowed if {
	spec := object.union(container({}), {"imagePullSecrets": [{"name": "registry"}]})
	count(credentials.deny) == 0 with input as pod(spec) with data.jupyternetes.config as config
}

test_gmsa_denied if {
	some d in credentials.deny with input as pod(container({"securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "x"}}})) with data.jupyternetes.config as config
	d.path == "spec.containers[0].securityContext.windowsOptions.gmsaCredentialSpecName"
}

test_csi_secret_denied if {
	spec := object.union(container({}), {"volumes": [{"name": "v", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "cloud-keys"}}}]})
	some d in credentials.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].csi.nodePublishSecretRef.name"
}
