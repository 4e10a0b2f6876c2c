# Storage a pod may use. Every claim (the template's PVCs and every ephemeral volume's claim template) requests at
# most data.jupyternetes.config.storage.max_request, names only the StorageClasses in storage.allowed_classes (when
# that list is not empty), and neither copies another volume (dataSource, dataSourceRef) nor binds to an existing one
# (volumeName, selector) unless storage.allowed_data_sources or storage.allow_existing_volumes say so. A pod mounts
# only the instance's own PVCs and the claims in storage.allowed_claims, and CSI volumes only of the drivers in
# storage.allowed_csi_drivers. Claim templates may not carry Jupyternetes' own labels.
package jupyternetes.policies.storage

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.resources.requests.storage", [pvc.path]),
	"message": sprintf("a storage request of %v is above the most allowed, %v", [size, lib.config.storage.max_request]),
	"fix": sprintf("request at most %v", [lib.config.storage.max_request]),
} if {
	some pvc in lib.claims
	size := pvc.spec.resources.requests.storage
	units.parse_bytes(sprintf("%v", [size])) > units.parse_bytes(lib.config.storage.max_request)
}

deny contains {
	"path": sprintf("%s.storageClassName", [pvc.path]),
	"message": sprintf("StorageClass %q is not allowed", [pvc.spec.storageClassName]),
	"fix": sprintf("use one of %s", [concat(", ", lib.config.storage.allowed_classes)]),
} if {
	count(lib.config.storage.allowed_classes) > 0
	some pvc in lib.claims
	pvc.spec.storageClassName
	not pvc.spec.storageClassName in lib.config.storage.allowed_classes
}

deny contains {
	"path": sprintf("%s.%s", [pvc.path, field]),
	"message": sprintf("a claim may not be filled from %s %q (it could copy another user's volume)", [object.get(source, "kind", "?"), object.get(source, "name", "")]),
	"fix": "remove it, or ask a security officer to add the source to storage.allowed_data_sources (as Kind/name)",
} if {
	some pvc in lib.claims
	some field in ["dataSource", "dataSourceRef"]
	source := pvc.spec[field]
	not sprintf("%s/%s", [object.get(source, "kind", ""), object.get(source, "name", "")]) in lib.setting(["storage", "allowed_data_sources"])
}

deny contains {
	"path": sprintf("%s.%s", [pvc.path, field]),
	"message": sprintf("%s binds the claim to an existing volume, which may be another user's", [field]),
	"fix": "remove it, or ask a security officer to set storage.allow_existing_volumes",
} if {
	not lib.config.storage.allow_existing_volumes
	some pvc in lib.claims
	some field in ["volumeName", "selector"]
	pvc.spec[field]
}

deny contains {
	"path": sprintf("%s.persistentVolumeClaim.claimName", [v.path]),
	"message": sprintf("PVC %q is not one of the instance's own and not on the allowlist", [v.volume.persistentVolumeClaim.claimName]),
	"fix": "mount the instance's own PVCs ({jupyternetes.pvcs.<entry>}), or ask a security officer to add the claim to storage.allowed_claims",
} if {
	some v in lib.volumes
	v.volume.persistentVolumeClaim
	not lib.name_allowed(v.volume.persistentVolumeClaim.claimName, object.get(input, "own_pvcs", []), lib.setting(["storage", "allowed_claims"]))
}

deny contains {
	"path": sprintf("%s.csi.driver", [v.path]),
	"message": sprintf("CSI driver %q is not allowed for inline volumes", [v.volume.csi.driver]),
	"fix": "ask a security officer to add the driver to storage.allowed_csi_drivers",
} if {
	some v in lib.volumes
	v.volume.csi
	not v.volume.csi.driver in lib.setting(["storage", "allowed_csi_drivers"])
}

deny contains {
	"path": sprintf("%s.ephemeral.volumeClaimTemplate.metadata.%s[%q]", [v.path, field, key]),
	"message": "Jupyternetes' own labels and annotations belong only on what the operator makes",
	"fix": "remove it",
} if {
	some v in lib.volumes
	some field in ["labels", "annotations"]
	some key, _ in object.get(v.volume, ["ephemeral", "volumeClaimTemplate", "metadata", field], {})
	reserved(key)
}

reserved(key) if startswith(key, "jupyternetes.kadense.io/")

reserved("app.kubernetes.io/managed-by")

deny contains {
	"path": sprintf("%s.resources.requests.storage", [pvc.path]),
	"message": sprintf("storage request %v is not a quantity the policy can compare", [pvc.spec.resources.requests.storage]),
	"fix": "write it in plain units, such as 10Gi",
} if {
	some pvc in lib.claims
	size := pvc.spec.resources.requests.storage
	not units.parse_bytes(sprintf("%v", [size]))
}
