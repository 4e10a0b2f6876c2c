package jupyternetes.policies.entitlements_test

import data.jupyternetes.policies.entitlements

config := {"entitlements": {"rules": [
	{"templates": ["kadense/gpu-*"], "groups": ["gpu-researchers"]},
	{"templates": ["kadense/gpu-a100"], "users": ["ada"]},
	{"templates": ["kadense/notebook"], "users": ["*"]},
]}}

instance(template, user, groups) := {
	"kind": "JupyterNotebookInstance", "pods": [], "pvcs": [], "others": [],
	"template": {"namespace": "kadense", "name": template},
	"variables": {"jupyterhub.user.name": user, "jupyterhub.user.groups": groups},
}

test_no_rules_lets_everyone_use_every_template if {
	count(entitlements.deny) == 0 with input as instance("anything", "mallory", "[]") with data.jupyternetes.config as {}
}

test_a_member_of_an_entitled_group_is_allowed if {
	count(entitlements.deny) == 0 with input as instance("gpu-v100", "grace", "[\"gpu-researchers\"]")
		with data.jupyternetes.config as config
}

test_a_user_named_by_a_rule_is_allowed if {
	count(entitlements.deny) == 0 with input as instance("gpu-a100", "ada", "[]") with data.jupyternetes.config as config
}

test_everyone_when_the_rule_says_star if {
	count(entitlements.deny) == 0 with input as instance("notebook", "mallory", "[]")
		with data.jupyternetes.config as config
}

test_a_user_outside_the_groups_is_refused_with_their_groups if {
	some d in entitlements.deny with input as instance("gpu-v100", "mallory", "[\"stats101\", \"art\"]")
		with data.jupyternetes.config as config
	d.message == "\"mallory\" is not entitled to template kadense/gpu-v100 (groups: \"art\", \"stats101\")"
}

test_control_characters_in_names_are_escaped_in_the_message if {
	some d in entitlements.deny with input as instance("gpu-v100", "mal\nlory", "[\"a\\nb\"]")
		with data.jupyternetes.config as config
	not contains(d.message, "\n")
	contains(d.message, "\\n")
}

test_a_template_no_rule_names_is_refused_to_everyone if {
	some d in entitlements.deny with input as instance("secret-project", "ada", "[\"gpu-researchers\"]")
		with data.jupyternetes.config as config
	contains(d.message, "not available to anyone yet")
}

test_star_does_not_cross_the_slash if {
	cfg := {"entitlements": {"rules": [{"templates": ["kade*"], "users": ["*"]}]}}
	some d in entitlements.deny with input as instance("notebook", "ada", "[]") with data.jupyternetes.config as cfg
	contains(d.message, "not available to anyone yet")
}

test_groups_that_are_not_a_json_list_are_refused if {
	some d in entitlements.deny with input as instance("notebook", "ada", "gpu-researchers")
		with data.jupyternetes.config as config
	d.path == "spec.variables[\"jupyterhub.user.groups\"]"
}

test_groups_that_are_not_names_are_refused if {
	some d in entitlements.deny with input as instance("notebook", "ada", "[1, 2]") with data.jupyternetes.config as config
	d.path == "spec.variables[\"jupyterhub.user.groups\"]"
}

test_templates_are_not_judged if {
	doc := {"kind": "JupyterNotebookTemplate", "pods": [], "pvcs": [], "others": [],
		"template": {"namespace": "kadense", "name": "secret-project"}}
	count(entitlements.deny) == 0 with input as doc with data.jupyternetes.config as config
}
