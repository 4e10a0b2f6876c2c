# Pods may not wear the labels that select JupyterHub's own components (data.jupyternetes.config.labels.forbidden:
# label -> values, "*" for any value), so that no notebook becomes an endpoint of the hub's or the proxy's Service,
# or is let through their NetworkPolicies as one of them (Zero to JupyterHub lets only the hub reach the proxy's API).
package jupyternetes.policies.labels

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.labels[%q]", [trim_suffix(pod.path, ".spec"), key]),
	"message": sprintf("label %s=%s belongs to JupyterHub's own components", [key, value]),
	"fix": "remove the label, or ask a security officer to change labels.forbidden",
} if {
	some pod in input.pods
	some key, value in object.get(pod, "labels", {})
	some forbidden in object.get(lib.setting(["labels", "forbidden"]), key, [])
	forbidden in ["*", value]
}

# In a template, a label built from a placeholder is judged by what it could become for some user: a key or value
# that could render to a forbidden label is refused now, not for some users later.
deny contains {
	"path": sprintf("%s.labels[%q]", [trim_suffix(pod.path, ".spec"), key]),
	"message": sprintf("label %s=%s has a placeholder that could make it %s=%s, which belongs to JupyterHub's own components", [key, value, forbidden_key, forbidden_value]),
	"fix": "write this label without placeholders, or use a key that no placeholder can turn into a forbidden one",
} if {
	input.kind == "JupyterNotebookTemplate"
	some pod in input.pods
	some key, value in object.get(pod, "labels", {})
	contains(concat("", [key, value]), "{")
	some forbidden_key, forbidden_values in lib.setting(["labels", "forbidden"])
	may_be(key, forbidden_key)
	some forbidden_value in forbidden_values
	value_may_be(value, forbidden_value)
}

may_be(text, target) if text == target

may_be(text, target) if lib.could_render_to(text, target)

value_may_be(_, "*")

value_may_be(value, forbidden) if may_be(value, forbidden)
