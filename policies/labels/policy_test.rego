package jupyternetes.policies.labels_test

import data.jupyternetes.policies.labels

config := {"labels": {"forbidden": {"component": ["hub", "proxy"], "hub.jupyter.org/network-access-proxy-api": ["*"]}}}

pod(labels) := {"kind": "Pod", "pods": [{"path": "spec", "spec": {}, "labels": labels}]}

test_a_notebooks_own_labels_allowed if {
	count(labels.deny) == 0 with input as pod({"component": "singleuser-server", "hub.jupyter.org/network-access-hub": "true"}) with data.jupyternetes.config as config
}

test_posing_as_the_hub_denied if {
	some d in labels.deny with input as pod({"component": "hub", "app": "jupyterhub"}) with data.jupyternetes.config as config
	contains(d.message, "component=hub")
}

test_reaching_the_proxy_api_denied if {
	some d in labels.deny with input as pod({"hub.jupyter.org/network-access-proxy-api": "true"}) with data.jupyternetes.config as config
	contains(d.path, "hub.jupyter.org/network-access-proxy-api")
}

test_a_template_pods_labels_are_named_by_their_template_path if {
	doc := {"kind": "JupyterNotebookTemplate", "pods": [{"path": "spec.pods[0].spec", "spec": {}, "labels": {"component": "proxy"}}]}
	some d in labels.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.pods[0].labels[\"component\"]"
}

test_the_shipped_data_keeps_notebooks_from_reaching_each_other_through_z2jh_labels if {
	# The shipped data (policies/data.yaml): z2jh's singleuser policy admits any pod with this label to every notebook.
	some d in labels.deny with input as pod({"hub.jupyter.org/network-access-singleuser": "true"})
	contains(d.message, "network-access-singleuser")
	count(labels.deny) == 0 with input as pod({"hub.jupyter.org/network-access-hub": "true"})
}

template(labels) := {"kind": "JupyterNotebookTemplate", "pods": [{"path": "spec.pods[0].spec", "spec": {}, "labels": labels}]}

test_a_placeholder_that_could_make_a_forbidden_key_denied if {
	some d in labels.deny with input as template({"hub.jupyter.org/network-access-{jupyterhub.server.name}": "true"})
		with data.jupyternetes.config as config
	contains(d.message, "could make it hub.jupyter.org/network-access-proxy-api=*")
}

test_a_placeholder_that_could_make_a_forbidden_value_denied if {
	some d in labels.deny with input as template({"component": "{jupyterhub.user.name}"}) with data.jupyternetes.config as config
	contains(d.message, "could make it component=")
}

test_a_placeholder_that_cannot_make_a_forbidden_label_allowed if {
	count(labels.deny) == 0 with input as template({"hub.jupyter.org/username": "{jupyterhub.user.name}", "component": "singleuser-{jupyterhub.server.name}"})
		with data.jupyternetes.config as config
}

test_literal_braces_count_as_anything if {
	some d in labels.deny with input as template({"{{x}}{y}": "{z}"}) with data.jupyternetes.config as config
	contains(d.message, "has a placeholder")
}
