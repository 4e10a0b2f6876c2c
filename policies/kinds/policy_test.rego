package jupyternetes.policies.kinds_test

import data.jupyternetes.policies.kinds

config := {"kinds": {"allowed": ["v1/Service", "v1/ConfigMap"]}}

template(others) := {"kind": "JupyterNotebookTemplate", "others": others}

test_service_allowed if {
	count(kinds.deny) == 0 with input as template([{"path": "spec.otherResources[0]", "apiVersion": "v1", "kind": "Service"}]) with data.jupyternetes.config as config
}

test_role_binding_denied if {
	some d in kinds.deny with input as template([{"path": "spec.otherResources[1]", "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"}]) with data.jupyternetes.config as config
	d.path == "spec.otherResources[1]"
	contains(d.message, "rbac.authorization.k8s.io/v1/RoleBinding")
}

test_same_kind_other_group_denied if {
	count(kinds.deny) == 1 with input as template([{"path": "p", "apiVersion": "serving.knative.dev/v1", "kind": "Service"}]) with data.jupyternetes.config as config
}

test_node_port_service_denied if {
	doc := {"kind": "JupyterNotebookTemplate", "others": [{"path": "spec.otherResources[0]", "apiVersion": "v1", "kind": "Service", "body": {"spec": {"type": "NodePort", "ports": [{"port": 80}]}}}]}
	some d in kinds.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.otherResources[0].body.spec.type"
}

test_external_ips_denied if {
	doc := {"kind": "JupyterNotebookTemplate", "others": [{"path": "spec.otherResources[0]", "apiVersion": "v1", "kind": "Service", "body": {"spec": {"externalIPs": ["8.8.8.8"], "ports": [{"port": 53}]}}}]}
	some d in kinds.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.otherResources[0].body.spec.externalIPs"
}

test_cluster_ip_service_allowed if {
	doc := {"kind": "JupyterNotebookTemplate", "others": [{"path": "spec.otherResources[0]", "apiVersion": "v1", "kind": "Service", "body": {"spec": {"ports": [{"port": 80}]}}}]}
	count(kinds.deny) == 0 with input as doc with data.jupyternetes.config as config
}
