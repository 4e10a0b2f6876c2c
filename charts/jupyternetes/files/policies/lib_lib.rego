# Helpers shared by the policies. Every policy sees the same normalised input:
#   input.kind        "JupyterNotebookTemplate", "JupyterNotebookInstance", "Pod" or "PersistentVolumeClaim"
#   input.pods[_]     {"path": field path of the pod spec, "spec": a PodSpec}
#   input.pvcs[_]     {"path": field path of the PVC spec, "spec": a PersistentVolumeClaimSpec}
#   input.others[_]   {"path": ..., "apiVersion": ..., "kind": ...}
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
