"""Profiles: a `profile_list` that maps a user's choice on the spawn page to a template, as KubeSpawner users know
it. Pure functions: the options form's HTML, reading the submitted form, and choosing the profile."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


class ProfileError(ValueError):
    """The chosen profile does not exist; the message lists the ones that do."""


def validate(profiles: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a profile list that cannot work, naming the entry and the field."""
    slugs = set()
    for index, profile in enumerate(profiles):
        for field in ("display_name", "slug", "template"):
            if not isinstance(profile.get(field), str) or not profile[field]:
                raise ValueError(f"profile_list[{index}] needs a non-empty string {field!r}")
        if profile["slug"] in slugs:
            raise ValueError(f"profile_list[{index}]: slug {profile['slug']!r} is used twice")
        slugs.add(profile["slug"])
        unknown = set(profile) - {"display_name", "slug", "description", "default", "template", "template_namespace",
                                  "variables"}
        if unknown:
            raise ValueError(f"profile_list[{index}] has unknown keys {sorted(unknown)}")


def choose(profiles: Sequence[Mapping[str, Any]], slug: str | None) -> Mapping[str, Any]:
    """The profile with `slug`; with no slug, the default one (or the first)."""
    if slug:
        for profile in profiles:
            if profile["slug"] == slug:
                return profile
        raise ProfileError(f"there is no profile {slug!r}; choose one of "
                           + ", ".join(repr(p["slug"]) for p in profiles))
    return next((p for p in profiles if p.get("default")), profiles[0])


def options_form(profiles: Sequence[Mapping[str, Any]]) -> str:
    """Radio buttons, one per profile, the default one checked."""
    default = choose(profiles, None)["slug"]
    rows = []
    for profile in profiles:
        slug = html.escape(profile["slug"], quote=True)
        checked = " checked" if profile["slug"] == default else ""
        description = html.escape(profile.get("description", ""))
        rows.append(
            f'<label class="jupyternetes-profile" for="profile-{slug}"><input type="radio" name="profile" '
            f'id="profile-{slug}" value="{slug}"{checked}> <strong>{html.escape(profile["display_name"])}'
            f"</strong><br><small>{description}</small></label>"
        )
    return '<div class="form-group jupyternetes-profiles">' + "<br>".join(rows) + "</div>"


def from_form(formdata: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The chosen profile's slug from the submitted form."""
    values = formdata.get("profile") or []
    return {"profile": values[0]} if values else {}
