# How long a notebook server may run: where data.jupyternetes.config.sessions sets a limit for a template (the
# smallest of the `templates` patterns that name it, else max_seconds), each of its pods must carry
# spec.activeDeadlineSeconds no longer than the limit. Kubernetes stops the pod at that deadline. The mutating
# webhook fills the limit in where a template's pod sets none, so a template stored before the limit was set is the
# only way to miss it: store it again.
package jupyternetes.policies.sessions

import data.jupyternetes.lib

sessions := object.get(lib.config, "sessions", {})

template := sprintf("%s/%s", [input.template.namespace, input.template.name])

named contains seconds if {
	some pattern, seconds in object.get(sessions, "templates", {})
	glob.match(pattern, ["/"], template)
}

limit := min(named) if count(named) > 0
else := sessions.max_seconds if is_number(sessions.max_seconds)

deny contains {
	"path": sprintf("%s.activeDeadlineSeconds", [pod.path]),
	"message": sprintf("sets no session limit; notebook servers may run for at most %d seconds", [limit]),
	"fix": sprintf("set activeDeadlineSeconds to at most %d (the webhook fills it in when a template is stored: store a template made before the limit again)", [limit]),
} if {
	is_number(limit)
	some pod in input.pods
	not is_number(object.get(pod.spec, "activeDeadlineSeconds", null))
}

deny contains {
	"path": sprintf("%s.activeDeadlineSeconds", [pod.path]),
	"message": sprintf("lets the server run for %d seconds; the most allowed is %d", [pod.spec.activeDeadlineSeconds, limit]),
	"fix": sprintf("set activeDeadlineSeconds to at most %d", [limit]),
} if {
	is_number(limit)
	some pod in input.pods
	pod.spec.activeDeadlineSeconds > limit
}

# The kubelet gives a pod its termination grace period (preStop hooks run inside it) after the deadline: a long one
# would let the server run on. Kubernetes' default is 30 seconds.
max_grace := object.get(sessions, "max_grace_seconds", 300)

deny contains {
	"path": sprintf("%s.terminationGracePeriodSeconds", [pod.path]),
	"message": sprintf("lets the server run on for %d seconds after its session limit; the most allowed is %d", [pod.spec.terminationGracePeriodSeconds, max_grace]),
	"fix": sprintf("set terminationGracePeriodSeconds to at most %d", [max_grace]),
} if {
	is_number(limit)
	some pod in input.pods
	pod.spec.terminationGracePeriodSeconds > max_grace
}
