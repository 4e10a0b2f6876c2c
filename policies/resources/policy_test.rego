package jupyternetes.policies.resources_test

import data.jupyternetes.policies.resources

config := {"resources": {"max_limits": {"cpu": "8", "memory": "32Gi"}, "max_requests": {"cpu": "4", "memory": "16Gi"}}}

pod(resources) := {"kind": "Pod", "pods": [{"path": "spec", "spec": {"containers": [{"name": "c", "image": "x", "resources": resources}]}}]}

test_within_bounds_allowed if {
	count(resources.deny) == 0 with input as pod({"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}}) with data.jupyternetes.config as config
}

test_integer_and_millicore_quantities_allowed if {
	count(resources.deny) == 0 with input as pod({"limits": {"cpu": 8, "memory": "32768Mi"}, "requests": {"cpu": "4000m"}}) with data.jupyternetes.config as config
}

test_missing_memory_limit_denied if {
	some d in resources.deny with input as pod({"limits": {"cpu": "2"}}) with data.jupyternetes.config as config
	d.path == "spec.containers[0].resources.limits.memory"
}

test_limit_above_bound_denied if {
	some d in resources.deny with input as pod({"limits": {"cpu": "16", "memory": "4Gi"}}) with data.jupyternetes.config as config
	d.path == "spec.containers[0].resources.limits.cpu"
	contains(d.message, "above the most allowed")
}

test_request_above_bound_denied if {
	some d in resources.deny with input as pod({"limits": {"cpu": "8", "memory": "32Gi"}, "requests": {"memory": "20Gi"}}) with data.jupyternetes.config as config
	d.path == "spec.containers[0].resources.requests.memory"
}

test_pod_level_limit_above_the_bound_denied if {
	doc := {"kind": "Pod", "pods": [{"path": "spec", "spec": {
		"resources": {"limits": {"cpu": "64"}},
		"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
	}}]}
	some d in resources.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.resources.limits.cpu"
}

test_a_quantity_opa_cannot_read_is_denied_not_passed if {
	doc := {"kind": "Pod", "pods": [{"path": "spec", "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "100000000000n", "memory": "1Gi"}}}]}}]}
	some d in resources.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.containers[0].resources.limits.cpu"
	contains(d.message, "not a quantity the policy can compare")
}
