# Helpers shared by the policies. Every policy sees the same normalised input:
#   input.kind        "JupyterNotebookTemplate", "JupyterNotebookInstance", "Pod" or "PersistentVolumeClaim"
#   input.pods[_]     {"path": field path of the pod spec, "spec": a PodSpec}
#   input.pvcs[_]     {"path": field path of the PVC spec, "spec": a PersistentVolumeClaimSpec}
#   input.others[_]   {"path": ..., "apiVersion": ..., "kind": ..., "body": every field but apiVersion, kind, metadata}
#   input.own_secret  the instance's own Secret: its name, or "{jupyternetes.secret}" in a template
#   input.own_pvcs    the instance's own PVCs: their names, or "{jupyternetes.pvcs.<entry>}" in a template
#   input.own_configmaps  ConfigMaps the instance's template makes: names, or "{jupyternetes.others.<entry>}"
#   input.variables   instances only: name -> value
#   input.template_variables   instances only: the variables the template uses
package jupyternetes.lib

config := data.jupyternetes.config

# Every container of every pod, with the field path of the container.
containers contains {"path": sprintf("%s.%s[%d]", [pod.path, list, i]), "container": c} if {
	some pod in input.pods
	some list in ["initContainers", "containers", "ephemeralContainers"]
	some i, c in object.get(pod.spec, list, [])
}

# registry/repository of an image reference, the way the container runtime resolves it.
repository(image) := repo if {
	name := split(image, "@")[0]
	without_tag := strip_tag(name)
	repo := qualify(without_tag)
}

strip_tag(name) := concat(":", array.slice(parts, 0, count(parts) - 1)) if {
	parts := split(name, ":")
	count(parts) > 1
	not contains(parts[count(parts) - 1], "/")
} else := name

qualify(name) := sprintf("docker.io/library/%s", [name]) if {
	not contains(name, "/")
} else := sprintf("docker.io/%s", [name]) if {
	first := split(name, "/")[0]
	not contains(first, ".")
	not contains(first, ":")
	first != "localhost"
} else := name

digest_pinned(image) if contains(image, "@sha256:")

# Every volume of every pod, with the field path of the volume.
volumes contains {"path": sprintf("%s.volumes[%d]", [pod.path, i]), "volume": v} if {
	some pod in input.pods
	some i, v in object.get(pod.spec, "volumes", [])
}

# Every claim spec: the PVCs, and the claim templates of every pod's ephemeral volumes.
claims contains pvc if some pvc in input.pvcs

claims contains {"path": sprintf("%s.ephemeral.volumeClaimTemplate.spec", [v.path]), "spec": spec} if {
	some v in volumes
	spec := v.volume.ephemeral.volumeClaimTemplate.spec
}

# Whether `name` is one of `own` (the instance's own objects) or matches one of the glob `patterns`.
name_allowed(name, own, _) if name in own

name_allowed(name, _, patterns) if {
	some pattern in patterns
	glob.match(pattern, [], name)
}

# A config list that may be missing.
setting(path) := object.get(config, path, [])

# A template's text (a label key or value) with each placeholder turned into a glob that matches whatever it could
# render to.
placeholder_glob(text) := regex.replace(text, `\{[^{}]*\}`, "**")

# Whether text with placeholders could render to target. Text whose pattern would hold other glob syntax (literal
# braces, say) could render to anything, as far as a policy can tell.
could_render_to(text, target) if {
	contains(text, "{")
	pattern := placeholder_glob(text)
	not regex.match(`[*?\[\]\\{}]`, replace(pattern, "**", ""))
	glob.match(pattern, [], target)
}

could_render_to(text, _) if {
	contains(text, "{")
	regex.match(`[*?\[\]\\{}]`, replace(placeholder_glob(text), "**", ""))
}
