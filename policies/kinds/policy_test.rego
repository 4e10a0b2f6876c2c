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
