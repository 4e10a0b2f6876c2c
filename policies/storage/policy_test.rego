package jupyternetes.policies.storage_test

import data.jupyternetes.policies.storage

config := {"storage": {"max_request": "100Gi", "allowed_classes": ["standard"]}}

claim(spec) := {"kind": "PersistentVolumeClaim", "pvcs": [{"path": "spec", "spec": spec}]}

test_small_claim_allowed if {
	count(storage.deny) == 0 with input as claim({"resources": {"requests": {"storage": "10Gi"}}}) with data.jupyternetes.config as config
}

test_allowed_class_allowed if {
	count(storage.deny) == 0 with input as claim({"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}}) with data.jupyternetes.config as config
}

test_huge_claim_denied if {
	some d in storage.deny with input as claim({"resources": {"requests": {"storage": "1Ti"}}}) with data.jupyternetes.config as config
	d.path == "spec.resources.requests.storage"
}

test_other_class_denied if {
	some d in storage.deny with input as claim({"storageClassName": "fast-unencrypted", "resources": {"requests": {"storage": "1Gi"}}}) with data.jupyternetes.config as config
	d.path == "spec.storageClassName"
}

test_any_class_allowed_when_list_empty if {
	open := {"storage": {"max_request": "100Gi", "allowed_classes": []}}
	count(storage.deny) == 0 with input as claim({"storageClassName": "anything", "resources": {"requests": {"storage": "1Gi"}}}) with data.jupyternetes.config as open
}
