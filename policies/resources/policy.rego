# Every container states CPU and memory limits, and no request or limit is above the bounds in
# data.jupyternetes.config.resources (the mutating webhook fills in default_limits where a container has none).
# Pod-level resources (spec.resources) are held to the same bounds.
package jupyternetes.policies.resources

import data.jupyternetes.lib

deny contains {
	"path": sprintf("%s.resources.limits.%s", [c.path, name]),
	"message": sprintf("no %s limit", [name]),
	"fix": sprintf("set resources.limits.%s (at most %v)", [name, lib.config.resources.max_limits[name]]),
} if {
	some c in lib.containers
	some name, _ in lib.config.resources.max_limits
	not c.container.resources.limits[name]
}

deny contains {
	"path": sprintf("%s.resources.%s.%s", [c.path, kind, name]),
	"message": sprintf("%s %s of %v is above the most allowed, %v", [name, singular[kind], value, bound]),
	"fix": sprintf("ask for at most %v, or ask a security officer to raise resources.max_%s.%s", [bound, kind, name]),
} if {
	some c in lib.containers
	some kind in ["limits", "requests"]
	some name, value in object.get(c.container, ["resources", kind], {})
	bound := object.get(lib.config.resources, [sprintf("max_%s", [kind]), name], null)
	bound != null
	units.parse(sprintf("%v", [value])) > units.parse(sprintf("%v", [bound]))
}

singular := {"limits": "limit", "requests": "request"}

deny contains {
	"path": sprintf("%s.resources.%s.%s", [pod.path, kind, name]),
	"message": sprintf("pod-level %s %s of %v is above the most allowed, %v", [name, singular[kind], value, bound]),
	"fix": sprintf("ask for at most %v, or ask a security officer to raise resources.max_%s.%s", [bound, kind, name]),
} if {
	some pod in input.pods
	some kind in ["limits", "requests"]
	some name, value in object.get(pod.spec, ["resources", kind], {})
	bound := object.get(lib.config.resources, [sprintf("max_%s", [kind]), name], null)
	bound != null
	units.parse(sprintf("%v", [value])) > units.parse(sprintf("%v", [bound]))
}

# A quantity OPA cannot read (units such as "n" or "u") is refused rather than passed: a bound that cannot be checked
# does not hold.
deny contains {
	"path": sprintf("%s.resources.%s.%s", [where.path, kind, name]),
	"message": sprintf("%s %s %v is not a quantity the policy can compare", [name, singular[kind], value]),
	"fix": "write it in plain units, such as 500m, 2 or 4Gi",
} if {
	some where in quantities
	some kind in ["limits", "requests"]
	some name, value in object.get(where.resources, kind, {})
	not units.parse(sprintf("%v", [value]))
}

quantities contains {"path": c.path, "resources": object.get(c.container, "resources", {})} if some c in lib.containers

quantities contains {"path": pod.path, "resources": object.get(pod.spec, "resources", {})} if some pod in input.pods
