"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): evidence
documents. They are never changed by the register (``AppendOnly``): the rotation rewrites only
their envelope, the same bytes sealed under the new KEK version, past the model's refusal."""

from __future__ import annotations

from secretum.compliance import documents
from secretum.crypto.rotation import KekUse, Kind, register

# Documents of up to a few megabytes: fewer rows per transaction.
EVIDENCE = register(
    KekUse(
        "compliance.EvidenceDocument",
        "sealed",
        Kind.SECRET,
        lambda d: documents.document_aad(d.uid),
        batch=20,
    )
)
