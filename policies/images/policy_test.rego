package jupyternetes.policies.images_test

import data.jupyternetes.policies.images

config := {"images": {"allowed": ["quay.io/jupyter/*", "docker.io/library/busybox", "registry.example/team/**"], "require_digest": false}}

pod(image) := {"kind": "Pod", "pods": [{"path": "spec", "spec": {"containers": [{"name": "c", "image": image}]}}]}

test_allowlisted_repository_allowed if {
	count(images.deny) == 0 with input as pod("quay.io/jupyter/base-notebook:2026-01-01") with data.jupyternetes.config as config
}

test_short_docker_hub_name_allowed if {
	count(images.deny) == 0 with input as pod("busybox:1.36") with data.jupyternetes.config as config
}

test_double_star_crosses_segments_allowed if {
	count(images.deny) == 0 with input as pod("registry.example/team/a/b/c:1") with data.jupyternetes.config as config
}

test_other_registry_denied if {
	some d in images.deny with input as pod("evil.example/jupyter/base-notebook:1") with data.jupyternetes.config as config
	d.path == "spec.containers[0].image"
	contains(d.message, "not on the allowlist")
}

test_lookalike_repository_denied if {
	count(images.deny) == 1 with input as pod("quay.io/jupyter-evil/base-notebook:1") with data.jupyternetes.config as config
}

test_single_star_does_not_cross_segments_denied if {
	count(images.deny) == 1 with input as pod("quay.io/jupyter/nested/image:1") with data.jupyternetes.config as config
}

test_image_with_a_placeholder_denied if {
	count(images.deny) == 1 with input as pod("quay.io/jupyter/{image}:1") with data.jupyternetes.config as config
}

test_init_container_denied if {
	input_doc := {"kind": "Pod", "pods": [{"path": "spec", "spec": {
		"initContainers": [{"name": "i", "image": "evil.example/x:1"}],
		"containers": [{"name": "c", "image": "busybox"}],
	}}]}
	some d in images.deny with input as input_doc with data.jupyternetes.config as config
	d.path == "spec.initContainers[0].image"
}

test_unpinned_image_denied_when_digest_required if {
	strict := object.union(config, {"images": {"allowed": config.images.allowed, "require_digest": true}})
	some d in images.deny with input as pod("busybox:1.36") with data.jupyternetes.config as strict
	contains(d.message, "not pinned by digest")
}

test_pinned_image_allowed_when_digest_required if {
	strict := object.union(config, {"images": {"allowed": config.images.allowed, "require_digest": true}})
	count(images.deny) == 0 with input as pod("busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") with data.jupyternetes.config as strict
}

test_image_volume_off_the_allowlist_denied if {
	doc := {"kind": "Pod", "pods": [{"path": "spec", "spec": {
		"containers": [{"name": "c", "image": "busybox"}],
		"volumes": [{"name": "tools", "image": {"reference": "evil.example/tools:1"}}],
	}}]}
	some d in images.deny with input as doc with data.jupyternetes.config as config
	d.path == "spec.volumes[0].image.reference"
}

test_a_placeholder_in_an_image_is_named_as_such if {
	doc := {"kind": "JupyterNotebookTemplate", "pods": [{"path": "spec.pods[0].spec", "spec": {"containers": [{"name": "c", "image": "quay.io/jupyter/{jupyterhub.user.name}:1"}]}}]}
	some d in images.deny with input as doc with data.jupyternetes.config as {"images": {"allowed": ["quay.io/jupyter/*"]}}
	contains(d.message, "placeholders are not allowed in images")
	count(images.deny) == 1 with input as doc with data.jupyternetes.config as {"images": {"allowed": ["quay.io/jupyter/*"]}}
}
