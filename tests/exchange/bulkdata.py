"""Helpers for the bulk tests: a plain bulk export read back, a folder written by hand (its
manifest's SHA-256 computed), resources compared without their ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from secretum.exchange import bulk

REASON = "Fictitious: the practice moves to another system."


def read_folder(folder: Path) -> dict[str, list[dict[str, Any]]]:
    manifest = json.loads((folder / bulk.MANIFEST).read_text())
    return {
        out["type"]: [json.loads(line) for line in (folder / out["url"]).read_text().splitlines()]
        for out in manifest["output"]
    }


def write_folder(folder: Path, files: dict[str, list[Any]], *, raw: bool = False) -> Path:
    """A plain bulk folder as ``bulk.py`` writes one; ``raw``: the lines are bytes as given."""
    folder.mkdir()
    outputs, hashes = [], {}
    for rtype, lines in files.items():
        name = f"{rtype}.ndjson"
        data = b"".join((line if raw else json.dumps(line).encode()) + b"\n" for line in lines)
        (folder / name).write_bytes(data)
        outputs.append({"type": rtype, "url": name, "count": len(lines)})
        hashes[name] = hashlib.sha256(data).hexdigest()
    manifest = {
        "transactionTime": "2026-11-30T10:00:00+00:00",
        "request": bulk.REQUEST,
        "requiresAccessToken": False,
        "output": outputs,
        "error": [],
        "extension": {"secretum": {"format": bulk.FORMAT, "sha256": hashes}},
    }
    (folder / bulk.MANIFEST).write_text(json.dumps(manifest))
    return folder


def validate(resource: dict[str, Any]) -> None:
    """fhir.resources' R4B model of the resource's type accepts it (L1)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


_IDS = ("id", "reference", "fullUrl")


def content(resource: Any) -> Any:
    """A resource without its ids and references: what two instances share."""
    if isinstance(resource, dict):
        return {k: content(v) for k, v in resource.items() if k not in _IDS}
    if isinstance(resource, list):
        return [content(v) for v in resource]
    return resource


def normalised(files: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {
        rtype: sorted(json.dumps(content(r), sort_keys=True) for r in resources)
        for rtype, resources in files.items()
    }
