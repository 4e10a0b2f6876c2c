# Collects the deny rules of every policy under data.jupyternetes.policies into one list for the webhook.
package jupyternetes.main

violations contains violation if {
	some name, policy in data.jupyternetes.policies
	some denial in policy.deny
	violation := object.union(denial, {"policy": name})
}
