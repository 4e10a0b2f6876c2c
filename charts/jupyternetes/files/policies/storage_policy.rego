# PVCs may not request more storage than data.jupyternetes.config.storage.max_request, and may only name the
# StorageClasses in storage.allowed_classes (when that list is not empty).
package jupyternetes.policies.storage

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.resources.requests.storage", [pvc.path]),
	"message": sprintf("a storage request of %v is above the most allowed, %v", [size, lib.config.storage.max_request]),
	"fix": sprintf("request at most %v", [lib.config.storage.max_request]),
} if {
	some pvc in input.pvcs
	size := pvc.spec.resources.requests.storage
	units.parse_bytes(sprintf("%v", [size])) > units.parse_bytes(lib.config.storage.max_request)
}

deny contains {
	"path": sprintf("%s.storageClassName", [pvc.path]),
	"message": sprintf("StorageClass %q is not allowed", [pvc.spec.storageClassName]),
	"fix": sprintf("use one of %s", [concat(", ", lib.config.storage.allowed_classes)]),
} if {
	count(lib.config.storage.allowed_classes) > 0
	some pvc in input.pvcs
	pvc.spec.storageClassName
	not pvc.spec.storageClassName in lib.config.storage.allowed_classes
}
