package jupyternetes.policies.identity_test

import data.jupyternetes.policies.identity

config := {"identity": {"allowed_service_accounts": ["default", "notebook"], "allow_token_mount": false, "allowed_token_audiences": ["vault"]}}

pod(spec) := {"kind": "Pod", "pods": [{"path": "spec", "spec": object.union({"automountServiceAccountToken": false}, spec)}]}

test_no_account_allowed if {
	count(identity.deny) == 0 with input as pod({}) with data.jupyternetes.config as config
}

test_listed_account_allowed if {
	count(identity.deny) == 0 with input as pod({"serviceAccountName": "notebook"}) with data.jupyternetes.config as config
}

test_other_account_denied if {
	some d in identity.deny with input as pod({"serviceAccountName": "build-bot"}) with data.jupyternetes.config as config
	d.path == "spec.serviceAccountName"
	contains(d.message, "build-bot")
}

test_deprecated_field_denied_too if {
	some d in identity.deny with input as pod({"serviceAccount": "build-bot"}) with data.jupyternetes.config as config
	d.path == "spec.serviceAccount"
}

test_mounted_token_denied if {
	doc := {"kind": "Pod", "pods": [{"path": "spec", "spec": {}}]}
	some d in identity.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.automountServiceAccountToken"
}

test_mounted_token_allowed_when_configured if {
	open := {"identity": object.union(config.identity, {"allow_token_mount": true})}
	count(identity.deny) == 0 with input as {"kind": "Pod", "pods": [{"path": "spec", "spec": {}}]} with data.jupyternetes.config as open
}

test_api_audience_token_denied if {
	spec := {"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}
	some d in identity.deny with input as pod(spec) with data.jupyternetes.config as config
	d.path == "spec.volumes[0].projected.sources[0].serviceAccountToken"
}

test_listed_audience_token_allowed if {
	spec := {"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "audience": "vault"}}]}}]}
	count(identity.deny) == 0 with input as pod(spec) with data.jupyternetes.config as config
}
