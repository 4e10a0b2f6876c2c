# What a pod may read: the instance's own Secret, and Secrets and ConfigMaps matching the globs in
# data.jupyternetes.config.credentials (allowed_secrets, allowed_configmaps, allowed_image_pull_secrets), whether by
# environment variable, envFrom, a volume or a projected volume. Nothing else, so that a template cannot hand a
# notebook the hub's Secret or another user's. Windows GMSA credential specs only with credentials.allow_gmsa.
package jupyternetes.policies.credentials

import data.jupyternetes.lib

secret_refs contains {"path": sprintf("%s.env[%d].valueFrom.secretKeyRef.name", [c.path, i]), "name": e.valueFrom.secretKeyRef.name} if {
	some c in lib.containers
	some i, e in object.get(c.container, "env", [])
	e.valueFrom.secretKeyRef
}

secret_refs contains {"path": sprintf("%s.envFrom[%d].secretRef.name", [c.path, i]), "name": e.secretRef.name} if {
	some c in lib.containers
	some i, e in object.get(c.container, "envFrom", [])
	e.secretRef
}

secret_refs contains {"path": sprintf("%s.secret.secretName", [v.path]), "name": v.volume.secret.secretName} if {
	some v in lib.volumes
	v.volume.secret
}

secret_refs contains {"path": sprintf("%s.projected.sources[%d].secret.name", [v.path, i]), "name": s.secret.name} if {
	some v in lib.volumes
	some i, s in object.get(v.volume, ["projected", "sources"], [])
	s.secret
}

secret_refs contains {"path": sprintf("%s.csi.nodePublishSecretRef.name", [v.path]), "name": v.volume.csi.nodePublishSecretRef.name} if {
	some v in lib.volumes
	v.volume.csi.nodePublishSecretRef
}

configmap_refs contains {"path": sprintf("%s.env[%d].valueFrom.configMapKeyRef.name", [c.path, i]), "name": e.valueFrom.configMapKeyRef.name} if {
	some c in lib.containers
	some i, e in object.get(c.container, "env", [])
	e.valueFrom.configMapKeyRef
}

configmap_refs contains {"path": sprintf("%s.envFrom[%d].configMapRef.name", [c.path, i]), "name": e.configMapRef.name} if {
	some c in lib.containers
	some i, e in object.get(c.container, "envFrom", [])
	e.configMapRef
}

configmap_refs contains {"path": sprintf("%s.configMap.name", [v.path]), "name": v.volume.configMap.name} if {
	some v in lib.volumes
	v.volume.configMap
}

configmap_refs contains {"path": sprintf("%s.projected.sources[%d].configMap.name", [v.path, i]), "name": s.configMap.name} if {
	some v in lib.volumes
	some i, s in object.get(v.volume, ["projected", "sources"], [])
	s.configMap
}

deny contains {
	"path": ref.path,
	"message": sprintf("Secret %q is not the instance's own Secret and not on the allowlist", [ref.name]),
	"fix": "read the instance's own Secret ({jupyternetes.secret}), or ask a security officer to add the Secret to credentials.allowed_secrets",
} if {
	some ref in secret_refs
	not lib.name_allowed(ref.name, [object.get(input, "own_secret", "")], lib.setting(["credentials", "allowed_secrets"]))
}

deny contains {
	"path": ref.path,
	"message": sprintf("ConfigMap %q is not one the template makes and not on the allowlist", [ref.name]),
	"fix": "ask a security officer to add the ConfigMap to credentials.allowed_configmaps",
} if {
	some ref in configmap_refs
	not lib.name_allowed(ref.name, object.get(input, "own_configmaps", []), lib.setting(["credentials", "allowed_configmaps"]))
}

deny contains {
	"path": sprintf("%s.imagePullSecrets[%d].name", [pod.path, i]),
	"message": sprintf("image pull Secret %q is not on the allowlist", [ref.name]),
	"fix": "ask a security officer to add it to credentials.allowed_image_pull_secrets",
} if {
	some pod in input.pods
	some i, ref in object.get(pod.spec, "imagePullSecrets", [])
	not lib.name_allowed(ref.name, [], lib.setting(["credentials", "allowed_image_pull_secrets"]))
}

deny contains {
	"path": sprintf("%s.windowsOptions.%s", [where.path, field]),
	"message": "Windows GMSA credential specs are not allowed",
	"fix": "remove it, or ask a security officer to set credentials.allow_gmsa",
} if {
	not lib.config.credentials.allow_gmsa
	some where in security_contexts
	some field in ["gmsaCredentialSpec", "gmsaCredentialSpecName"]
	object.get(where.context, ["windowsOptions", field], null) != null
}

security_contexts contains {"path": sprintf("%s.securityContext", [pod.path]), "context": pod.spec.securityContext} if {
	some pod in input.pods
	pod.spec.securityContext
}

security_contexts contains {"path": sprintf("%s.securityContext", [c.path]), "context": c.container.securityContext} if {
	some c in lib.containers
	c.container.securityContext
}
