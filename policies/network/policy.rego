# Notebooks are network-isolated (the chart's NetworkPolicies: in from the proxy and the hub, out to DNS and the hub's
# API). A pod asks for more egress only with the label jupyternetes.kadense.io/egress-<name>: "true", for a name in
# data.jupyternetes.config.network.destinations, each of which the chart makes a NetworkPolicy for. Templates cannot
# make NetworkPolicies of their own, whatever kinds.allowed says: a template never widens its own egress.
package jupyternetes.policies.network

import data.jupyternetes.lib

prefix := "jupyternetes.kadense.io/egress-"

destinations := object.get(lib.config, ["network", "destinations"], {})

named := concat(", ", sort(object.keys(destinations))) if {
	count(destinations) > 0
} else := "none are named yet"

deny contains {
	"path": sprintf("%s.labels[%q]", [trim_suffix(pod.path, ".spec"), key]),
	"message": sprintf("label %s asks for egress to %q, which is not a destination in network.destinations", [key, name]),
	"fix": sprintf("use a destination a security officer has named (%s), or ask one to add it", [named]),
} if {
	some pod in input.pods
	some key, _ in object.get(pod, "labels", {})
	startswith(key, prefix)
	name := substring(key, count(prefix), -1)
	not name in object.keys(destinations)
}

deny contains {
	"path": sprintf("%s.labels[%q]", [trim_suffix(pod.path, ".spec"), key]),
	"message": sprintf("label %s is %q; an egress label's value is \"true\"", [key, value]),
	"fix": "set the label to \"true\", or remove it",
} if {
	some pod in input.pods
	some key, value in object.get(pod, "labels", {})
	startswith(key, prefix)
	value != "true"
}

deny contains {
	"path": other.path,
	"message": "templates cannot make NetworkPolicies: a notebook's egress is set by security officers",
	"fix": sprintf("label the pod %s<destination>: \"true\" for a destination in network.destinations", [prefix]),
} if {
	some other in input.others
	other.kind == "NetworkPolicy"
}

# A label key built from a placeholder that could render to an egress label would let the hub (through a user's
# name, a profile choice) pick the destination: the destination is written out in the template, or not at all.
deny contains {
	"path": sprintf("%s.labels[%q]", [trim_suffix(pod.path, ".spec"), key]),
	"message": sprintf("label key %s has a placeholder that could make it an egress label (%s<destination>)", [key, prefix]),
	"fix": "write the egress label's key out in full, without placeholders",
} if {
	some pod in input.pods
	some key, _ in object.get(pod, "labels", {})
	not startswith(key, prefix)
	some name in object.keys(destinations) | {"any-destination"}
	lib.could_render_to(key, concat("", [prefix, name]))
}
