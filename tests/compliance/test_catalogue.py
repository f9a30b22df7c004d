"""The register knows every measure of the checklist: the 59 IDs of measures.md, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from secretum.compliance import catalogue
from secretum.compliance.catalogue import Kind, Part

# A copy of the catalogue's IDs, committed here, so the test never passes silently when the
# seed file beside the repository is missing.
EXPECTED_IDS = (
    "P1 A1 A2 B1 B2 B3 C1 C2 C3 D1 D2 D3 D4 E1 E2 E3 E4 E5 E6 E7 E8 E9 E10 E11 F1 F2 F3 F4 F5 "
    "G1 G2 G3 G4 H1 H2 H3 I1 I2 I3 I4 I5 J1 J2 K1 K2 K3 L1 L2 L3 M1 M2 M3 M4 M5 N1 N2 N3 O1 O2"
).split()

MEASURES_MD = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "measures.md"
ROW = re.compile(r"^\|\s*([A-P]\d{1,2})\s*\|(.*?)\|\s*([LC ]+?)\s*\|\s*(\w+)", re.MULTILINE)


def _seed() -> dict[str, tuple[frozenset[Part], str]]:
    if not MEASURES_MD.is_file():
        pytest.skip(f"{MEASURES_MD} is absent: compared with the committed copy of the IDs only")
    found = {}
    for measure_id, _text, where, kind in ROW.findall(MEASURES_MD.read_text(encoding="utf-8")):
        found[measure_id] = (frozenset(Part(p) for p in where.split()), kind)
    return found


def test_the_catalogue_holds_the_59_measures_in_order() -> None:
    assert len(EXPECTED_IDS) == 59
    assert list(catalogue.IDS) == EXPECTED_IDS


def test_the_catalogue_matches_the_seed_table() -> None:
    seed = _seed()
    assert list(seed) == EXPECTED_IDS
    for measure_id, (parts, kind) in seed.items():
        measure = catalogue.BY_ID[measure_id]
        assert measure.parts == parts, measure_id
        assert measure.kind == Kind(kind), measure_id


def test_every_measure_speaks_french_dutch_and_english() -> None:
    for m in catalogue.MEASURES:
        texts = {m.text("fr"), m.text("nl"), m.text("en")}
        assert len(texts) == 3 and all(len(t) > 10 for t in texts), m.id
        assert m.parts and m.parts <= {Part.LOCAL, Part.CLOUD}
        for part in m.parts:
            category = m.category_in(part)
            assert category.label("fr") and category.label("nl") and category.label("en")


def test_categories_follow_the_source() -> None:
    labels = {m.id: m.category_in(Part.CLOUD).label("fr") for m in catalogue.MEASURES
              if Part.CLOUD in m.parts}  # fmt: skip
    assert (
        labels["B3"] == "Authentification des utilisateurs (membres du personnel / proches aidants)"
    )
    assert labels["D2"] == "Traçage des accès et gestion des incidents"
    # The cloud part files remote access, screens and removable media under mobile devices…
    assert labels["E6"] == "Sécurisation des dispositifs mobiles"
    # …the local part under workstations; and the internet-outage plan under subcontracting.
    assert catalogue.BY_ID["E6"].category_in(Part.LOCAL).label("fr") == (
        "Sécurisation des postes de travail"
    )
    assert catalogue.BY_ID["I5"].category_in(Part.LOCAL).label("fr") == "Sous-traitance"
    assert catalogue.BY_ID["I5"].category_for(frozenset({Part.CLOUD})).code == "I"


def test_a_measure_is_found_by_its_id_in_any_case() -> None:
    assert catalogue.measure("e10").id == "E10"
    with pytest.raises(KeyError):
        catalogue.measure("Z9")
