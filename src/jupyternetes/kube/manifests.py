"""Reading Kubernetes objects from YAML text."""

from __future__ import annotations

from typing import Any

import yaml



def load_manifests(text: str, source: str = "<input>") -> list[dict[str, Any]]:
    """Every YAML document in `text` that is an object, or `ValueError` naming the source and the YAML problem."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML: {error}".replace("\n", " ")) from None
    for index, doc in enumerate(documents):
        if not isinstance(doc, dict):
            raise ValueError(f"{source}: document {index + 1} is a {type(doc).__name__}, not a Kubernetes object")
    return documents
