# Who may use which template: an instance is refused when its user, or one of the user's groups, as the hub reports
# them (the variables jupyterhub.user.name and jupyterhub.user.groups, a JSON list), is not entitled to its template
# by data.jupyternetes.config.entitlements.rules. No rules: every template for everyone. Once there is a rule, a
# template that no rule names is refused to everyone. The spawner applies the same rule (jupyternetes.entitlements)
# to offer each user only their profiles; a test holds the two to the same answers.
package jupyternetes.policies.entitlements

import data.jupyternetes.lib

rules := object.get(lib.config, ["entitlements", "rules"], [])

user := object.get(input.variables, "jupyterhub.user.name", "")

raw_groups := object.get(input.variables, "jupyterhub.user.groups", "[]")

groups := json.unmarshal(raw_groups) if valid_groups(raw_groups)
else := []

valid_groups(raw) if {
	json.is_valid(raw)
	list := json.unmarshal(raw)
	is_array(list)
	every g in list {
		is_string(g)
	}
}

template := sprintf("%s/%s", [input.template.namespace, input.template.name])

deny contains {
	"path": "spec.variables[\"jupyterhub.user.groups\"]",
	"message": "the user's groups are not a JSON list of names",
	"fix": "the spawner sets this variable; check the hub's Jupyternetes version",
} if {
	input.kind == "JupyterNotebookInstance"
	not valid_groups(raw_groups)
}

deny contains {
	"path": "spec.template",
	"message": sprintf("template %s is not available to anyone yet: no entitlement names it", [template]),
	"fix": "ask a security officer to add it to the entitlements",
} if {
	input.kind == "JupyterNotebookInstance"
	count(rules) > 0
	count(matching) == 0
}

deny contains {
	"path": "spec.template",
	"message": sprintf("%q is not entitled to template %s (groups: %s)", [user, template, shown_groups]),
	"fix": "it is for particular users and groups only: ask a security officer for access",
} if {
	input.kind == "JupyterNotebookInstance"
	count(matching) > 0
	not entitled
}

# Quoted (%q escapes control characters): a user's name or groups can never break a message or a log line.
shown_groups := concat(", ", [sprintf("%q", [g]) | some g in sort(groups)]) if count(groups) > 0
else := "none"

matching contains rule if {
	some rule in rules
	some pattern in rule.templates
	glob.match(pattern, ["/"], template)
}

entitled if {
	some rule in matching
	some name in object.get(rule, "users", [])
	name in {"*", user}
}

entitled if {
	some rule in matching
	some name in object.get(rule, "groups", [])
	name == "*"
}

entitled if {
	some rule in matching
	some name in object.get(rule, "groups", [])
	name in groups
}
