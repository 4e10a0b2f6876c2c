# Pods may only run images from allowlisted repositories (data.jupyternetes.config.images.allowed), and, when
# require_digest is set, only images pinned by digest: every container's image, and every image volume's.
package jupyternetes.policies.images

import data.jupyternetes.lib

# Every image a pod uses, with the field path it is set in.
images contains {"path": sprintf("%s.image", [c.path]), "image": c.container.image} if some c in lib.containers

images contains {"path": sprintf("%s.image.reference", [v.path]), "image": v.volume.image.reference} if {
	some v in lib.volumes
	v.volume.image
}

deny contains {
	"path": i.path,
	"message": sprintf("image %q (repository %s) is not on the allowlist", [i.image, lib.repository(i.image)]),
	"fix": sprintf("use an image from %s, or ask a security officer to add its repository to images.allowed", [concat(", ", lib.config.images.allowed)]),
} if {
	some i in images
	not placeholder(i.image)
	not allowed(i.image)
}

deny contains {
	"path": i.path,
	"message": sprintf("image %q has a placeholder; placeholders are not allowed in images, since what they render to could be any repository", [i.image]),
	"fix": "write the image out in full in the template (offer several images as several templates or profiles)",
} if {
	some i in images
	placeholder(i.image)
}

placeholder(image) if {
	is_string(image)
	contains(image, "{")
}

deny contains {
	"path": i.path,
	"message": sprintf("image %q is not pinned by digest", [i.image]),
	"fix": "refer to the image as repository@sha256:<digest>",
} if {
	lib.config.images.require_digest
	some i in images
	not lib.digest_pinned(i.image)
}

allowed(image) if {
	is_string(image)
	not contains(image, "{")
	some pattern in lib.config.images.allowed
	glob.match(pattern, ["/"], lib.repository(image))
}
