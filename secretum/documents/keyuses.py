"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): the name
and content of each file of the scan intake not yet filed to a patient (``intake``). Filed
documents are sealed under their patient's data key, which a KEK rotation leaves as it is."""

from __future__ import annotations

from secretum.crypto.rotation import KekUse, Kind, register

TITLES = register(
    KekUse("documents.UnfiledDocument", "title", Kind.SECRET, lambda d: d.aad("title"), batch=20)
)
# Scans of up to a few megabytes: fewer rows per transaction.
CONTENTS = register(
    KekUse("documents.UnfiledDocument", "content", Kind.SECRET, lambda d: d.content_aad(), batch=20)
)
