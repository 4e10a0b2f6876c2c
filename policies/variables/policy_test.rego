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
