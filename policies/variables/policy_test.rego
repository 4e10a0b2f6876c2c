package jupyternetes.policies.variables_test

import data.jupyternetes.policies.variables

config := {"variables": {
	"spawner_defined": ["jupyterhub.*"],
	"max_length": 20,
	"patterns": {"jupyterhub.user.id": "^[0-9]+$"},
	"sensitive": ["jupyterhub.api_token"],
	"forbid_plaintext": false,
}}

instance(vars) := {"kind": "JupyterNotebookInstance", "variables": vars, "template_variables": ["course"]}

test_spawner_and_template_variables_allowed if {
	count(variables.deny) == 0 with input as instance({"jupyterhub.user.name": "jovyan", "course": "maths"}) with data.jupyternetes.config as config
}

test_unknown_variable_denied if {
	some d in variables.deny with input as instance({"extra": "x"}) with data.jupyternetes.config as config
	d.path == "spec.variables[\"extra\"]"
}

test_long_value_denied if {
	some d in variables.deny with input as instance({"course": "a very long course name indeed"}) with data.jupyternetes.config as config
	contains(d.message, "characters long")
}

test_pattern_mismatch_denied if {
	some d in variables.deny with input as instance({"jupyterhub.user.id": "1; drop"}) with data.jupyternetes.config as config
	contains(d.message, "does not match")
}

test_plaintext_secret_allowed_by_default if {
	count(variables.deny) == 0 with input as instance({"jupyterhub.api_token": "abc"}) with data.jupyternetes.config as config
}

test_plaintext_secret_denied_when_forbidden if {
	strict := {"variables": object.union(config.variables, {"forbid_plaintext": true})}
	some d in variables.deny with input as instance({"jupyterhub.api_token": "abc"}) with data.jupyternetes.config as strict
	contains(d.message, "plain text")
}

test_unknown_sealed_variable_denied if {
	doc := object.union(instance({}), {"sealed_variables": ["backdoor.token"]})
	some d in variables.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.sealedVariables[\"backdoor.token\"]"
}

test_spawner_sealed_variable_allowed if {
	doc := object.union(instance({}), {"sealed_variables": ["jupyterhub.api_token"]})
	count(variables.deny) == 0 with input as doc with data.jupyternetes.config as config
}

test_pattern_matches_the_whole_value if {
	loose := {"variables": object.union(config.variables, {"patterns": {"jupyterhub.user.id": "[0-9]+"}})}
	some d in variables.deny with input as instance({"jupyterhub.user.id": "12; drop"}) with data.jupyternetes.config as loose
	contains(d.message, "does not match")
	count(variables.deny) == 0 with input as instance({"jupyterhub.user.id": "12"}) with data.jupyternetes.config as loose
}

test_pattern_refuses_a_final_newline_and_other_scripts_digits if {
	digits := {"variables": object.union(config.variables, {"patterns": {"jupyterhub.user.id": "^\\d+$"}})}
	some d in variables.deny with input as instance({"jupyterhub.user.id": "12\n"}) with data.jupyternetes.config as digits
	contains(d.message, "does not match")
	some e in variables.deny with input as instance({"jupyterhub.user.id": "١٢"}) with data.jupyternetes.config as digits
	contains(e.message, "does not match")
}

test_pattern_that_does_not_compile_refuses if {
	broken := {"variables": object.union(config.variables, {"patterns": {"jupyterhub.user.id": "(?<=a)"}})}
	some d in variables.deny with input as instance({"jupyterhub.user.id": "12"}) with data.jupyternetes.config as broken
	contains(d.message, "does not match")
}

test_pattern_that_escapes_the_anchors_refuses_everything if {
	typo := {"variables": object.union(config.variables, {"patterns": {"jupyterhub.user.id": "[0-9]+)|([0-9]+"}})}
	some d in variables.deny with input as instance({"jupyterhub.user.id": "1; anything"}) with data.jupyternetes.config as typo
	contains(d.message, "does not match")
	some e in variables.deny with input as instance({"jupyterhub.user.id": "12"}) with data.jupyternetes.config as typo
	contains(e.message, "does not match")
}
