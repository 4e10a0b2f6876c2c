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

deny contains {
	"path": path,
	"message": "the pod picks a node by its name",
	"fix": "use labels that describe the kind of node, or ask a security officer to set scheduling.allow_node_pinning",
} if {
	not lib.config.scheduling.allow_node_pinning
	some path in pinned
}

pinned contains sprintf("%s.nodeSelector[\"kubernetes.io/hostname\"]", [pod.path]) if {
	some pod in input.pods
	pod.spec.nodeSelector["kubernetes.io/hostname"]
}

pinned contains sprintf("%s.affinity.nodeAffinity", [pod.path]) if {
	some pod in input.pods
	some term in node_terms(pod.spec)
	some field in ["matchFields", "matchExpressions"]
	some requirement in object.get(term, field, [])
	requirement.key in ["metadata.name", "kubernetes.io/hostname"]
}

node_terms(spec) := array.concat(
	object.get(spec, ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"], []),
	[w.preference | some w in object.get(spec, ["affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"], [])],
)
