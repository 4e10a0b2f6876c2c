# A template's otherResources may only be of the kinds in data.jupyternetes.config.kinds.allowed (apiVersion/Kind).
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
