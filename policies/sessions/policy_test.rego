package jupyternetes.policies.sessions_test

import data.jupyternetes.policies.sessions

config := {"sessions": {"max_seconds": 28800, "templates": {"kadense/gpu-*": 7200, "kadense/gpu-short": 1800}}}

doc(template, spec) := {
	"kind": "JupyterNotebookTemplate", "pvcs": [], "others": [],
	"template": {"namespace": "kadense", "name": template},
	"pods": [{"path": "spec.pods[0].spec", "spec": spec}],
}

test_no_limit_by_default if {
	count(sessions.deny) == 0 with input as doc("notebook", {}) with data.jupyternetes.config as {}
	count(sessions.deny) == 0 with input as doc("notebook", {}) with data.jupyternetes.config as {"sessions": {"max_seconds": null}}
}

test_within_the_limit_for_all if {
	count(sessions.deny) == 0 with input as doc("notebook", {"activeDeadlineSeconds": 28800})
		with data.jupyternetes.config as config
}

test_past_the_limit_for_all if {
	some d in sessions.deny with input as doc("notebook", {"activeDeadlineSeconds": 28801})
		with data.jupyternetes.config as config
	d.path == "spec.pods[0].spec.activeDeadlineSeconds"
	d.message == "lets the server run for 28801 seconds; the most allowed is 28800"
}

test_no_deadline_where_a_limit_applies if {
	some d in sessions.deny with input as doc("notebook", {}) with data.jupyternetes.config as config
	contains(d.message, "sets no session limit")
}

test_a_template_pattern_takes_its_own_limit_even_when_larger_ones_apply if {
	some d in sessions.deny with input as doc("gpu-v100", {"activeDeadlineSeconds": 7201})
		with data.jupyternetes.config as config
	contains(d.message, "the most allowed is 7200")
	count(sessions.deny) == 0 with input as doc("gpu-v100", {"activeDeadlineSeconds": 7200})
		with data.jupyternetes.config as config
}

test_the_smallest_of_the_matching_patterns if {
	some d in sessions.deny with input as doc("gpu-short", {"activeDeadlineSeconds": 7200})
		with data.jupyternetes.config as config
	contains(d.message, "the most allowed is 1800")
}

test_a_bare_pod_takes_the_limit_for_all if {
	pod := {"kind": "Pod", "pvcs": [], "others": [], "pods": [{"path": "spec", "spec": {"activeDeadlineSeconds": 99999}}]}
	some d in sessions.deny with input as pod with data.jupyternetes.config as config
	contains(d.message, "the most allowed is 28800")
}

test_a_long_grace_period_would_outlive_the_limit if {
	spec := {"activeDeadlineSeconds": 3600, "terminationGracePeriodSeconds": 2592000}
	some d in sessions.deny with input as doc("notebook", spec) with data.jupyternetes.config as config
	d.path == "spec.pods[0].spec.terminationGracePeriodSeconds"
	contains(d.message, "the most allowed is 300")
	count(sessions.deny) == 0 with input as doc("notebook", {"activeDeadlineSeconds": 3600, "terminationGracePeriodSeconds": 300})
		with data.jupyternetes.config as config
}

test_a_long_grace_period_is_not_judged_without_a_limit if {
	count(sessions.deny) == 0 with input as doc("notebook", {"terminationGracePeriodSeconds": 2592000})
		with data.jupyternetes.config as {}
}
