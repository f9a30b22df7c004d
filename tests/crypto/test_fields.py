"""Sealed fields are bound to their row (E10, G3): the associated data names the model, the
field and the row's uid, formatted once per row (a list opens hundreds) but always the uid the
row holds now."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.patients.models import Patient


def test_the_associated_data_names_the_uid_the_row_holds_now(db: Any) -> None:
    row = Patient()
    key, row.wrapped_key = keyring.new_data_key("test")
    row.seal(key, family_name="Xylophane")
    assert row.aad("family_name") == f"patients.Patient.family_name:{row.uid}"
    assert uid_text(row) == str(row.uid)
    first = row.uid
    row.uid = uuid.uuid4()  # a uid set anew is formatted anew: the value no longer opens
    assert uid_text(row) == str(row.uid) != str(first)
    with pytest.raises(keyring.DecryptionError):
        row.unseal(key, "family_name")
    row.uid = first
    assert row.unseal(key, "family_name") == "Xylophane"
