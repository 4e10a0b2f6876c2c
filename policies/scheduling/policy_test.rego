package jupyternetes.policies.scheduling_test

import data.jupyternetes.policies.scheduling

config := {"scheduling": {"allowed_runtime_classes": ["gvisor"], "allowed_priority_classes": [], "allowed_schedulers": ["default-scheduler"], "forbidden_toleration_keys": ["node-role.kubernetes.io/control-plane"]}}

pod(spec) := {"kind": "Pod", "pods": [{"path": "spec", "spec": spec}]}

test_defaults_allowed if {
	count(scheduling.deny) == 0 with input as pod({"schedulerName": "default-scheduler"}) with data.jupyternetes.config as config
}

test_listed_runtime_class_allowed if {
	count(scheduling.deny) == 0 with input as pod({"runtimeClassName": "gvisor"}) with data.jupyternetes.config as config
}

test_other_runtime_class_denied if {
	some d in scheduling.deny with input as pod({"runtimeClassName": "runc-privileged"}) with data.jupyternetes.config as config
	d.path == "spec.runtimeClassName"
}

test_priority_class_denied if {
	some d in scheduling.deny with input as pod({"priorityClassName": "system-node-critical"}) with data.jupyternetes.config as config
	d.path == "spec.priorityClassName"
}

test_other_scheduler_denied if {
	some d in scheduling.deny with input as pod({"schedulerName": "anywhere"}) with data.jupyternetes.config as config
	d.path == "spec.schedulerName"
}

test_control_plane_toleration_denied if {
	some d in scheduling.deny with input as pod({"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}) with data.jupyternetes.config as config
	d.path == "spec.tolerations[0]"
}

test_tolerate_everything_denied if {
	some d in scheduling.deny with input as pod({"tolerations": [{"operator": "Exists"}]}) with data.jupyternetes.config as config
	contains(d.message, "every taint")
}

test_gpu_toleration_allowed if {
	count(scheduling.deny) == 0 with input as pod({"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}) with data.jupyternetes.config as config
}

test_a_node_picked_by_name_denied if {
	some d in scheduling.deny with input as pod({"nodeSelector": {"kubernetes.io/hostname": "node-1"}}) with data.jupyternetes.config as config
	contains(d.message, "picks a node by its name")
}

test_a_node_picked_by_field_in_affinity_denied if {
	spec := {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]}}}}
	some d in scheduling.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.affinity.nodeAffinity"
}

test_a_kind_of_node_allowed if {
	count(scheduling.deny) == 0 with input as pod({"nodeSelector": {"node.kubernetes.io/instance-type": "gpu"}}) with data.jupyternetes.config as config
}

test_pinning_allowed_when_configured if {
	open := {"scheduling": object.union(config.scheduling, {"allow_node_pinning": true})}
	count(scheduling.deny) == 0 with input as pod({"nodeSelector": {"kubernetes.io/hostname": "node-1"}}) with data.jupyternetes.config as open
}
