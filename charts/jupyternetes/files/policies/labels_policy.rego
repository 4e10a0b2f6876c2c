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
