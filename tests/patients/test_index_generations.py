"""The search index sized from the number of patients, and its key rotated (E10, O1; issue 13):
a token is shared by several patients yet a search lists only the exact ones; the size follows
the count; a rebuild interrupted (a real SIGKILL too) resumes, and every patient is found
throughout; someone holding the database cannot tell from the tokens which values are equal.

Each test runs on a copy of the session's key file (``home``, as the KEK rotation's tests do):
a rebuild writes a new generation into it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from secretum.audit.models import AuditEvent
from secretum.crypto import indexkeys, inventory, keyring
from secretum.patients import queries, reindex, services
from secretum.patients.models import Patient, SearchToken
from tests.conftest import actor_for, identity
from tests.core.test_instance_key import ROOT, SECRETUM, secretum
from tests.crypto import test_rotation
from tests.crypto.test_rotation import environment
from tests.instances import initialised

FAMILY = "Lambrechtsova"

# The KEK rotation's fixtures: a copy of the key file of this test's own; no grace period.
home = test_rotation.home
quick = test_rotation.quick


def _register(practitioner: Any, count: int, **fields: Any) -> list[services.PatientIdentity]:
    actor = actor_for(practitioner)
    return [services.register_patient(actor, identity(**fields)) for _ in range(count)]


def _rotate_index(**options: Any) -> str:
    out = io.StringIO()
    call_command("keys_rotate", index_key=True, stdout=out, **options)
    return out.getvalue()


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _holders(kind: str, value: str) -> set[int]:
    return queries.token_holders(kind, keyring.blind_indexes(kind, value))


def _niss_buckets() -> Counter[bytes]:
    return Counter(
        bytes(t) for t in SearchToken.objects.filter(kind="niss").values_list("token", flat=True)
    )


def test_a_sized_token_is_shared_yet_search_lists_only_the_exact_patient(
    home: Any, practitioner: Any, quick: None
) -> None:
    """E10: after sizing, 40 national numbers share 16 token values (4 bits): a number's token
    points to several patients, and the search still lists only the one who has it."""
    made = _register(practitioner, 40)
    assert reindex.resize_due()  # 128-bit tokens: every token unique, equalities told
    _rotate_index()
    current = keyring.index_generations()[0]
    assert current.number == 2 and len(keyring.index_generations()) == 1
    assert current.bits_of("niss") == indexkeys.sized_bits(40) == 4
    assert current.bits_of("name") == indexkeys.sized_bits(40 * services.NAME_TOKENS)
    assert all(
        len(bytes(t)) == 1
        for t in SearchToken.objects.filter(kind="niss").values_list("token", flat=True)
    )
    actor = actor_for(practitioner)
    shared = 0
    for person in made:
        candidates = _holders("niss", person.niss)
        shared += len(candidates) > 1
        found = services.search_patients(actor, person.niss)
        assert [p.uid for p in found.patients] == [person.uid]
        assert not found.truncated
    assert shared >= 20  # 40 numbers in 16 buckets: most share theirs
    # A name prefix: the index proposes more patients than carry it; only those are listed.
    named = services.register_patient(actor, identity(family_name=FAMILY))
    found = services.search_patients(actor, FAMILY[:4])
    assert [p.uid for p in found.patients] == [named.uid]
    assert services.patient_ref_for_niss(named.niss) == named.uid


def test_the_sizing_follows_the_number_of_patients(
    home: Any, practitioner: Any, quick: None
) -> None:
    """E10: sized for 5 patients, the index is due again once the count has grown enough that a
    token stands for too many; `--if-due` rebuilds it then, and only then."""
    _register(practitioner, 5)
    _rotate_index()
    assert keyring.index_generations()[0].bits_of("niss") == 1
    assert not reindex.resize_due()
    assert "sized for the number of patients" in _rotate_index(if_due=True)
    assert keyring.index_generations()[0].number == 2
    _register(practitioner, 3)  # 8 tokens over 2 values: 4 each, more than sqrt(8)
    assert reindex.resize_due()
    out = _rotate_index(if_due=True)
    assert "generation 3" in out and "retired: 2" in out
    assert keyring.index_generations()[0].bits_of("niss") == 2
    assert set(SearchToken.objects.values_list("generation", flat=True)) == {3}
    listed = "\n".join(inventory.lines())
    assert "Search index: HMAC-SHA256 (RFC 2104) tokens, generation 3 (bits per token:" in listed
    assert "niss 2" in listed and "0 older generation(s)" in listed


def test_a_rebuild_interrupted_halfway_is_searchable_and_resumes(
    home: Any, practitioner: Any, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E10: a rebuild stopped after its first batch leaves two generations in the key file and
    the patients split between them: each is found by number and by name, a patient registered
    meanwhile too; run again, it resumes and retires the older generation and its key."""
    made = _register(practitioner, 6)
    old_key = keyring.index_generations()[0].key

    def stop_after_first(counts: reindex.Counts) -> None:
        raise KeyboardInterrupt  # the process dies here (the real SIGKILL: the next test)

    with pytest.raises(KeyboardInterrupt):
        reindex.run(stop_after_first, batch=2, grace=0)
    generations = keyring.index_generations()
    assert [g.number for g in generations] == [2, 1]
    assert set(SearchToken.objects.values_list("generation", flat=True)) == {1, 2}
    actor = actor_for(practitioner)
    made.append(services.register_patient(actor, identity(family_name=FAMILY)))
    assert SearchToken.objects.filter(patient__uid=made[-1].uid).first().generation == 2  # type: ignore[union-attr]
    for person in made:
        assert [p.uid for p in services.search_patients(actor, person.niss).patients] == [
            person.uid
        ]
        by_name = services.search_patients(actor, person.given_name)
        assert person.uid in [p.uid for p in by_name.patients]
    out = _rotate_index()
    assert "rotation resumed: generation 2" in out and "retired: 1" in out
    assert [g.number for g in keyring.index_generations()] == [2]
    written = json.loads(home.key_file.read_text())
    assert list(written["index_generations"]) == ["2"]
    # Generation 1's key was the key file's first index key: it keeps sealing records and rows
    # and digesting secrets (docs/keys.md), never a search token again.
    assert old_key == keyring._keys().index_key
    for person in made:
        assert [p.uid for p in services.search_patients(actor, person.niss).patients] == [
            person.uid
        ]
    found = [
        (e.resource_ref, json.loads(e.detail))
        for e in AuditEvent.objects.filter(resource="crypto.IndexKey").order_by("seq")
    ]
    assert [(r, d["phase"]) for r, d in found] == [
        ("index-g2", "resumed"),
        ("index-g2", "finished"),
    ]
    assert found[1][1]["retired"] == "1" and int(found[1][1]["rebuilt"]) >= 4
    assert _b64(old_key) not in json.dumps([d for _r, d in found])


def test_a_record_that_does_not_open_keeps_the_older_generation(
    home: Any, practitioner: Any, quick: None
) -> None:
    """A patient whose data key was altered in the database cannot be re-indexed: the command
    says so and exits non-zero, the older key stays; once the record is put right, it ends."""
    made = _register(practitioner, 3)
    row = Patient.objects.get(uid=made[0].uid)
    kept = bytes(row.wrapped_key)
    Patient.objects.filter(pk=row.pk).update(wrapped_key=b"\x01" + bytes(40))
    with pytest.raises(CommandError, match="1 records did not open"):
        _rotate_index()
    assert [g.number for g in keyring.index_generations()] == [2, 1]
    Patient.objects.filter(pk=row.pk).update(wrapped_key=kept)
    assert "retired: 1" in _rotate_index()


def test_the_database_alone_does_not_tell_equal_values(
    home: Any, practitioner: Any, quick: None
) -> None:
    """Attacker with the database, without the key file: sized, two patients born the same day
    share their birth-date token, but so do patients born on other days, and distinct national
    numbers share tokens: an equality of tokens is no equality of values. Unsized (128 bits),
    the twins' equal tokens told them apart from everyone else."""
    twins = _register(practitioner, 2, birth_date="1984-02-29")
    others = _register(practitioner, 30)
    everyone = [*twins, *others]
    births = Counter(
        bytes(t) for t in SearchToken.objects.filter(kind="birth").values_list("token", flat=True)
    )
    assert sorted(births.values())[-1] == 2 and len(births) == 31  # unsized: the twins stand out
    _rotate_index()
    by_patient = {
        str(uid): bytes(token)
        for uid, token in SearchToken.objects.filter(kind="birth").values_list(
            "patient__uid", "token"
        )
    }
    twin_token = by_patient[twins[0].uid]
    assert by_patient[twins[1].uid] == twin_token
    dates: dict[bytes, set[Any]] = {}
    for person in everyone:
        dates.setdefault(by_patient[person.uid], set()).add(person.birth_date)
    births = Counter(by_patient.values())
    # 32 tokens of 4 bits: about two per value; the twins' bucket is not the only shared one.
    assert sum(1 for n in births.values() if n > 1) > 3
    assert len(set(by_patient.values())) <= 16
    # 31 dates in at most 16 buckets: some equal tokens stand for different dates (pigeonhole),
    # so equal tokens, the twins' included, do not say "same date".
    assert any(len(found) > 1 for found in dates.values())
    niss = _niss_buckets()
    assert len({p.niss for p in everyone}) == 32 and max(niss.values()) > 1
    # Random padding tokens are as long as real ones: length tells nothing.
    lengths = {
        len(bytes(t))
        for t in SearchToken.objects.filter(kind="name").values_list("token", flat=True)
    }
    assert lengths == {(keyring.index_generations()[0].bits_of("name") + 7) // 8}


def test_a_real_index_rotation_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    """E10 end to end: `secretum keys rotate --index-key` killed (SIGKILL) after its first
    batch; every patient is still found by national number under the two generations; run
    again, it resumes and retires generation 1."""
    home_dir = initialised(tmp_path / "var", ("--patients", "12", "--seed", "5"))
    command = [*SECRETUM, "keys", "rotate", "--index-key", "--batch", "2", "--pause", "0.5"]
    with subprocess.Popen(
        command, env=environment(home_dir), cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as running:
        assert running.stdout is not None
        for line in running.stdout:
            if "re-indexed" in line:
                break
        os.kill(running.pid, signal.SIGKILL)
    assert running.wait() == -signal.SIGKILL
    halfway = json.loads((home_dir / "secretum.key").read_text())
    assert halfway["index_generation"] == 2 and sorted(halfway["index_generations"]) == ["1", "2"]
    assert _found_by_number(home_dir) == "12 of 12 found"
    again = secretum(home_dir, "keys", "rotate", "--index-key")
    assert again.returncode == 0, again.stderr
    assert "rotation resumed" in again.stdout and "retired: 1" in again.stdout
    assert list(json.loads((home_dir / "secretum.key").read_text())["index_generations"]) == ["2"]
    assert _found_by_number(home_dir) == "12 of 12 found"


_FIND_ALL = """
import django
django.setup()
from secretum.patients import services
from secretum.patients.models import Patient
found = 0
rows = list(Patient.objects.all())
for row in rows:
    number = row.unseal(services.patient_key(row), "niss")
    found += services.patient_ref_for_niss(number) == str(row.uid)
print(f"{found} of {len(rows)} found")
"""


def _found_by_number(home_dir: Path) -> str:
    """Every patient of the instance looked up by national number, in a process of its own."""
    env = {**environment(home_dir), "DJANGO_SETTINGS_MODULE": "secretum.settings"}
    done = subprocess.run(
        [sys.executable, "-c", _FIND_ALL],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
