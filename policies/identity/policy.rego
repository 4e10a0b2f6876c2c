# Who a pod runs as: only the service accounts in data.jupyternetes.config.identity.allowed_service_accounts
# (unset means the namespace's default account), no mounted API token unless identity.allow_token_mount, and no
# projected service-account token for an audience not in identity.allowed_token_audiences ("" is the API server's).
# The floor refuses JupyterHub's and the Jupyternetes components' own accounts whatever this file says.
package jupyternetes.policies.identity

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.%s", [pod.path, field]),
	"message": sprintf("service account %q is not allowed for notebook pods", [account]),
	"fix": sprintf("leave it unset, use one of %s, or ask a security officer to add it to identity.allowed_service_accounts", [concat(", ", lib.setting(["identity", "allowed_service_accounts"]))]),
} if {
	some pod in input.pods
	some field in ["serviceAccountName", "serviceAccount"]
	account := pod.spec[field]
	not account in lib.setting(["identity", "allowed_service_accounts"])
}

deny contains {
	"path": sprintf("%s.automountServiceAccountToken", [pod.path]),
	"message": "the pod would receive a Kubernetes API token",
	"fix": "set automountServiceAccountToken: false (the mutating webhook does so where it is unset)",
} if {
	not lib.config.identity.allow_token_mount
	some pod in input.pods
	object.get(pod.spec, "automountServiceAccountToken", true) != false
}

deny contains {
	"path": sprintf("%s.projected.sources[%d].serviceAccountToken", [v.path, i]),
	"message": sprintf("a service-account token for audience %q is not allowed", [audience]),
	"fix": "remove the token, or ask a security officer to add its audience to identity.allowed_token_audiences",
} if {
	some v in lib.volumes
	some i, source in object.get(v.volume, ["projected", "sources"], [])
	token := source.serviceAccountToken
	audience := object.get(token, "audience", "")
	not audience in lib.setting(["identity", "allowed_token_audiences"])
}
