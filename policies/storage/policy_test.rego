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

pod(spec, own) := {"kind": "Pod", "own_pvcs": own, "pods": [{"path": "spec", "spec": spec}]}

test_own_claim_allowed if {
	count(storage.deny) == 0 with input as pod({"volumes": [{"name": "h", "persistentVolumeClaim": {"claimName": "jupyter-a-home-1"}}]}, ["jupyter-a-home-1"]) with data.jupyternetes.config as config
}

test_another_users_claim_denied if {
	some d in storage.deny with input as pod({"volumes": [{"name": "h", "persistentVolumeClaim": {"claimName": "jupyter-b-home-2"}}]}, ["jupyter-a-home-1"]) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].persistentVolumeClaim.claimName"
}

test_listed_shared_claim_allowed if {
	shared := object.union(config, {"storage": object.union(config.storage, {"allowed_claims": ["datasets-*"]})})
	count(storage.deny) == 0 with input as pod({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "datasets-census"}}]}, []) with data.jupyternetes.config as shared
}

test_cloning_another_claim_denied if {
	some d in storage.deny with input as claim({"dataSource": {"kind": "PersistentVolumeClaim", "name": "jupyter-b-home-2"}, "resources": {"requests": {"storage": "1Gi"}}}) with data.jupyternetes.config as config
	d.path == "spec.dataSource"
}

test_binding_an_existing_volume_denied if {
	some d in storage.deny with input as claim({"volumeName": "pv-of-someone", "resources": {"requests": {"storage": "1Gi"}}}) with data.jupyternetes.config as config
	d.path == "spec.volumeName"
}

test_huge_ephemeral_volume_denied if {
	spec := {"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "5Ti"}}}}}}]}
	some d in storage.deny with input as pod(spec, []) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources.requests.storage"
}

test_ephemeral_volume_with_jupyternetes_labels_denied if {
	spec := {"volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"metadata": {"labels": {"jupyternetes.kadense.io/instance": "x"}}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}}}]}
	some d in storage.deny with input as pod(spec, []) with data.jupyternetes.config as config
	contains(d.path, "volumeClaimTemplate.metadata.labels")
}

test_inline_csi_volume_denied if {
	some d in storage.deny with input as pod({"volumes": [{"name": "v", "csi": {"driver": "secrets-store.csi.k8s.io"}}]}, []) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].csi.driver"
}

test_a_storage_quantity_opa_cannot_read_is_denied_not_passed if {
	some d in storage.deny with input as claim({"resources": {"requests": {"storage": "1000000000000000000000000n"}}}) with data.jupyternetes.config as config
	contains(d.message, "not a quantity the policy can compare")
}
