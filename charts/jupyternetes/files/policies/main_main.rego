# Collects the deny rules of every policy under data.jupyternetes.policies into one list for the webhook.
# Only the `deny` rules are evaluated (indexing by package name, not materialising whole packages).
package jupyternetes.main

violations contains object.union(denial, {"policy": name}) if {
	some name
	some denial in data.jupyternetes.policies[name].deny
}
