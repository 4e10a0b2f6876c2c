# A template's otherResources may only be of the kinds in data.jupyternetes.config.kinds.allowed (apiVersion/Kind),
# and a Service only of type ClusterIP, without externalIPs: nothing a template makes is reachable from outside the
# cluster, or takes over another address.
package jupyternetes.policies.kinds

import data.jupyternetes.lib

deny contains {
	"path": other.path,
	"message": sprintf("kind %s is not allowed in otherResources", [kind]),
	"fix": sprintf("use only %s, or ask a security officer to allow the kind", [concat(", ", lib.config.kinds.allowed)]),
} if {
	some other in input.others
	kind := sprintf("%s/%s", [other.apiVersion, other.kind])
	not kind in lib.config.kinds.allowed
}

deny contains {
	"path": sprintf("%s.body.spec.type", [other.path]),
	"message": sprintf("a Service of type %s is reachable from outside the cluster or points elsewhere", [type]),
	"fix": "use type ClusterIP (or leave it unset)",
} if {
	some other in input.others
	other.kind == "Service"
	type := object.get(other, ["body", "spec", "type"], "ClusterIP")
	type != "ClusterIP"
}

deny contains {
	"path": sprintf("%s.body.spec.externalIPs", [other.path]),
	"message": "externalIPs let a Service take over traffic for other addresses",
	"fix": "remove externalIPs",
} if {
	some other in input.others
	other.kind == "Service"
	count(object.get(other, ["body", "spec", "externalIPs"], [])) > 0
}
