# Pods may only run images from allowlisted repositories (data.jupyternetes.config.images.allowed), and, when
# require_digest is set, only images pinned by digest.
package jupyternetes.policies.images

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.image", [c.path]),
	"message": sprintf("image %q (repository %s) is not on the allowlist", [c.container.image, lib.repository(c.container.image)]),
	"fix": sprintf("use an image from %s, or ask a security officer to add its repository to images.allowed", [concat(", ", lib.config.images.allowed)]),
} if {
	some c in lib.containers
	not allowed(c.container.image)
}

deny contains {
	"path": sprintf("%s.image", [c.path]),
	"message": sprintf("image %q is not pinned by digest", [c.container.image]),
	"fix": "refer to the image as repository@sha256:<digest>",
} if {
	lib.config.images.require_digest
	some c in lib.containers
	not lib.digest_pinned(c.container.image)
}

allowed(image) if {
	is_string(image)
	not contains(image, "{")
	some pattern in lib.config.images.allowed
	glob.match(pattern, ["/"], lib.repository(image))
}
