"""Every field classified in one place; identity and medical fields are sealed (C1, E10)."""

from __future__ import annotations

from django.apps import apps

from secretum.access.classification import FIELDS, SEALED_CLASSES, DataClass, data_class
from secretum.crypto.fields import SealedField

# Every app of ours, so that a new one cannot leave its fields unclassified.
OUR_APPS = {c.label for c in apps.get_app_configs() if c.name.startswith("secretum.")}


def _our_models() -> list:
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]


def test_every_field_of_every_model_is_classified() -> None:
    missing = [
        f"{m._meta.label}.{f.name}"
        for m in _our_models()
        for f in m._meta.get_fields()
        if not f.auto_created or f.concrete
        if f.name not in FIELDS.get(m._meta.label, {})
    ]
    assert missing == []


def test_classification_names_no_field_that_does_not_exist() -> None:
    stale = []
    for label, fields in FIELDS.items():
        model = apps.get_model(label)
        names = {f.name for f in model._meta.get_fields()}
        stale += [f"{label}.{n}" for n in fields if n not in names]
    assert stale == []


def test_identity_and_medical_fields_are_sealed_and_nothing_else_is() -> None:
    wrong = []
    for model in _our_models():
        for f in model._meta.concrete_fields:
            sealed_class = data_class(model._meta.label, f.name) in SEALED_CLASSES
            if sealed_class != isinstance(f, SealedField):
                wrong.append(f"{model._meta.label}.{f.name}")
    assert wrong == []


def test_unclassified_field_is_treated_as_secret() -> None:
    assert data_class("patients.Patient", "no_such_field") is DataClass.SECRET
