# Where and how a pod runs: only the RuntimeClasses, PriorityClasses and schedulers in
# data.jupyternetes.config.scheduling (a runtime class can mean a less isolated runtime, a priority class can preempt
# other users, a scheduler can place the pod anywhere), and no toleration of the taints in
# scheduling.forbidden_toleration_keys (control-plane nodes by default) or of every taint at once.
package jupyternetes.policies.scheduling

import data.jupyternetes.lib

checks := [
	["runtimeClassName", "allowed_runtime_classes", "RuntimeClass"],
	["priorityClassName", "allowed_priority_classes", "PriorityClass"],
	["schedulerName", "allowed_schedulers", "scheduler"],
]

deny contains {
	"path": sprintf("%s.%s", [pod.path, check[0]]),
	"message": sprintf("%s %q is not allowed", [check[2], value]),
	"fix": sprintf("leave it unset, or ask a security officer to add it to scheduling.%s", [check[1]]),
} if {
	some pod in input.pods
	some check in checks
	value := pod.spec[check[0]]
	not value in lib.setting(["scheduling", check[1]])
}

deny contains {
	"path": sprintf("%s.tolerations[%d]", [pod.path, i]),
	"message": sprintf("tolerating taint %q lets the pod run where notebooks must not", [object.get(t, "key", "")]),
	"fix": "remove the toleration, or ask a security officer to change scheduling.forbidden_toleration_keys",
} if {
	some pod in input.pods
	some i, t in object.get(pod.spec, "tolerations", [])
	object.get(t, "key", "") in lib.setting(["scheduling", "forbidden_toleration_keys"])
}

deny contains {
	"path": sprintf("%s.tolerations[%d]", [pod.path, i]),
	"message": "a toleration without a key tolerates every taint, control-plane nodes' included",
	"fix": "name the taint's key",
} if {
	some pod in input.pods
	some i, t in object.get(pod.spec, "tolerations", [])
	object.get(t, "key", "") == ""
	object.get(t, "operator", "Equal") == "Exists"
}
