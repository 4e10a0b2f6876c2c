# An instance may only set variables that its template uses or that the spawner defines, each within the length
# and pattern limits of data.jupyternetes.config.variables, and (if forbid_plaintext) no sensitive variable in plain
# text.
package jupyternetes.policies.variables

import data.jupyternetes.lib

deny contains {
	"path": sprintf("spec.%s[%q]", [field, name]),
	"message": sprintf("variable %q is neither used by the template nor defined by the spawner", [name]),
	"fix": "remove it, or use it in the template",
} if {
	some pair in given
	[field, name] := pair
	not name in object.get(input, "template_variables", [])
	not spawner_defined(name)
}

# Every variable the instance sets, plain or sealed, with the field it is set in.
given contains ["variables", name] if some name, _ in input.variables

given contains ["sealedVariables", name] if some name in object.get(input, "sealed_variables", [])

deny contains {
	"path": sprintf("spec.variables[%q]", [name]),
	"message": sprintf("variable %q is %d characters long; the most allowed is %d", [name, count(value), lib.config.variables.max_length]),
	"fix": "shorten the value",
} if {
	some name, value in input.variables
	count(value) > lib.config.variables.max_length
}

deny contains {
	"path": sprintf("spec.variables[%q]", [name]),
	"message": sprintf("variable %q does not match the pattern %s", [name, pattern]),
	"fix": "give a value that matches the pattern",
} if {
	some name, value in input.variables
	pattern := lib.config.variables.patterns[name]
	not whole_match(pattern, value)
}

deny contains {
	"path": sprintf("spec.variables[%q]", [name]),
	"message": sprintf("sensitive variable %q is in plain text", [name]),
	"fix": "let the spawner seal it (sealedVariables) instead of putting it in spec.variables",
} if {
	lib.config.variables.forbid_plaintext
	some name in lib.config.variables.sensitive
	input.variables[name]
}

spawner_defined(name) if {
	some pattern in lib.config.variables.spawner_defined
	glob.match(pattern, null, name)
}

# The whole value must match: regex.match alone finds the pattern anywhere in it. A pattern that is not valid on its
# own (an officer's unbalanced parenthesis could otherwise close the wrapper early) matches nothing.
# src/jupyternetes/patterns.py judges opened sealed values the same way.
whole_match(pattern, value) if {
	regex.is_valid(pattern)
	regex.match(sprintf("^(?:%s)$", [pattern]), value)
}
