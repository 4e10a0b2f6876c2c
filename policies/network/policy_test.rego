package jupyternetes.policies.network_test

import data.jupyternetes.policies.network

config := {"network": {"destinations": {"package-mirror": {
	"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}],
	"ports": [{"port": 443, "protocol": "TCP"}],
}}}}

pod(labels) := {"kind": "Pod", "pods": [{"path": "spec", "spec": {}, "labels": labels}], "others": []}

test_a_pod_without_egress_labels_allowed if {
	count(network.deny) == 0 with input as pod({"component": "singleuser-server"}) with data.jupyternetes.config as config
}

test_a_named_destination_allowed if {
	count(network.deny) == 0 with input as pod({"jupyternetes.kadense.io/egress-package-mirror": "true"})
		with data.jupyternetes.config as config
}

test_an_unnamed_destination_denied_with_the_named_ones if {
	some d in network.deny with input as pod({"jupyternetes.kadense.io/egress-internet": "true"})
		with data.jupyternetes.config as config
	contains(d.message, "\"internet\", which is not a destination")
	contains(d.fix, "package-mirror")
}

test_no_destinations_by_default if {
	some d in network.deny with input as pod({"jupyternetes.kadense.io/egress-package-mirror": "true"})
		with data.jupyternetes.config as {}
	contains(d.fix, "none are named yet")
}

test_a_placeholder_in_the_key_denied if {
	# In a template, a key built from a variable names no destination until rendered: refused as it stands.
	doc := {"kind": "JupyterNotebookTemplate", "others": [], "pods": [{"path": "spec.pods[0].spec", "spec": {},
		"labels": {"jupyternetes.kadense.io/egress-{jupyterhub.user.name}": "true"}}]}
	some d in network.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.pods[0].labels[\"jupyternetes.kadense.io/egress-{jupyterhub.user.name}\"]"
}

test_a_value_other_than_true_denied if {
	some d in network.deny with input as pod({"jupyternetes.kadense.io/egress-package-mirror": "{jupyterhub.user.name}"})
		with data.jupyternetes.config as config
	contains(d.message, "value is \"true\"")
}

test_a_network_policy_in_other_resources_denied_whatever_kinds_allow if {
	doc := {"kind": "JupyterNotebookTemplate", "pods": [], "others": [{"path": "spec.otherResources[0]",
		"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "body": {"spec": {"podSelector": {}}}}]}
	cfg := object.union(config, {"kinds": {"allowed": ["networking.k8s.io/v1/NetworkPolicy"]}})
	some d in network.deny with input as doc with data.jupyternetes.config as cfg
	d.path == "spec.otherResources[0]"
}

test_a_key_that_could_render_to_an_egress_label_denied if {
	doc := {"kind": "JupyterNotebookTemplate", "others": [], "pods": [{"path": "spec.pods[0].spec", "spec": {},
		"labels": {"{jupyterhub.user.name}": "true"}}]}
	some d in network.deny with input as doc with data.jupyternetes.config as config
	contains(d.message, "could make it an egress label")
}

test_a_key_with_a_placeholder_elsewhere_allowed if {
	doc := {"kind": "JupyterNotebookTemplate", "others": [], "pods": [{"path": "spec.pods[0].spec", "spec": {},
		"labels": {"example.org/user-{jupyterhub.user.id}": "true"}}]}
	count(network.deny) == 0 with input as doc with data.jupyternetes.config as config
}
