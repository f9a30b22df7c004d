"""The installed Python distributions, and their software bill of materials (G2).

``installed()`` lists what this Python environment holds (``importlib.metadata``): the packages
the vulnerability check (``secretum.lib.osv``) looks up. ``bom()`` writes them as a CycloneDX 1.5
JSON document (https://cyclonedx.org/docs/1.5/json/): each a component with its name, version,
package URL (``pkg:pypi/name@version``, https://github.com/package-url/purl-spec), licence
expression when declared, the archive's hashes when the installer recorded them (PEP 610
``direct_url.json``), and the dependencies between them.

``make sbom`` (and every ``make venv``) writes ``sbom.cdx.json``: ``python -m secretum.lib.sbom
--output FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement

from secretum.lib.osv import normalize

SELF = "secretum"
# PEP 610 hash names -> CycloneDX hash algorithms.
HASH_NAMES = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "blake2b": "BLAKE2b-512",
}


def _distributions() -> dict[str, metadata.Distribution]:
    """The installed distributions by normalised name; the first on the path wins, as imports
    do."""
    found: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalize(name) not in found:
            found[normalize(name)] = dist
    return found


def installed() -> dict[str, str]:
    """Name -> version of every distribution installed in this environment."""
    return {d.metadata["Name"]: d.version for d in _distributions().values()}


def version_of(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def purl(name: str, version: str) -> str:
    return f"pkg:pypi/{normalize(name)}@{quote(version, safe='')}"


def _hashes(dist: metadata.Distribution) -> list[dict[str, str]]:
    """The archive's hashes, when the installer recorded where it came from (PEP 610)."""
    try:
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return []
    info = origin.get("archive_info") if isinstance(origin, dict) else None
    if not isinstance(info, dict):
        return []
    hashes = dict(info.get("hashes") or {})
    if not hashes and "=" in str(info.get("hash", "")):
        name, _, value = str(info["hash"]).partition("=")
        hashes[name] = value
    return [
        {"alg": HASH_NAMES[k.lower()], "content": str(v)}
        for k, v in sorted(hashes.items())
        if k.lower() in HASH_NAMES
    ]


def _requires(dist: metadata.Distribution, names: set[str]) -> list[str]:
    """The installed distributions ``dist`` needs (its extras' needs left out)."""
    needs = []
    for line in dist.requires or ():
        try:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
        except (InvalidRequirement, UndefinedEnvironmentName):
            continue
        key = normalize(requirement.name)
        if key in names:
            needs.append(key)
    return sorted(set(needs))


def _component(dist: metadata.Distribution, kind: str = "library") -> dict[str, Any]:
    name, version = dist.metadata["Name"], dist.version
    ref = purl(name, version)
    component: dict[str, Any] = {
        "type": kind,
        "bom-ref": ref,
        "name": name,
        "version": version,
        "purl": ref,
    }
    expression = dist.metadata["License-Expression"]
    if expression:
        component["licenses"] = [{"expression": expression}]
    hashes = _hashes(dist)
    if hashes:
        component["hashes"] = hashes
    return component


def bom(now: dt.datetime | None = None) -> dict[str, Any]:
    """The CycloneDX 1.5 bill of materials of this environment, Secretum as its subject."""
    dists = _distributions()
    refs = {key: purl(d.metadata["Name"], d.version) for key, d in dists.items()}
    own = dists.get(SELF)
    subject = (
        _component(own, "application")
        if own is not None
        else {"type": "application", "bom-ref": purl(SELF, "unknown"), "name": SELF}
    )
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": stamp.replace("+00:00", "Z"),
            "tools": {"components": [{"type": "application", "name": "secretum.lib.sbom"}]},
            "component": subject,
        },
        "components": [_component(d) for key, d in sorted(dists.items()) if key != SELF],
        "dependencies": [
            {
                "ref": refs[key],
                "dependsOn": [refs[n] for n in _requires(d, set(dists))],
            }
            for key, d in sorted(dists.items())
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the CycloneDX SBOM of this environment.")
    parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    document = bom()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(document['components'])} components)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
