"""KMEHR, the Belgian eHealth platform's XML standard: the SumEHR (summarised electronic health
record, transaction ``sumehr``, version 2.0 on KMEHR 20161201) written from a chart
(``export``) and read from another package (``importer``), parsed safely (``parse``).

https://www.ehealth.fgov.be/standards/kmehr/en/transactions/summarised-electronic-healthcare-record-v20
"""

from __future__ import annotations

NS = "http://www.ehealth.fgov.be/standards/kmehr/schema/v1"
# SumEHR 2.0 requires KMEHR 20161201 or later (the eHealth platform's page above).
STANDARD = "20161201"
TRANSACTION = "sumehr"
FORMAT = "kmehr-sumehr"
# Secretum's own codes, where KMEHR has no table for what Secretum records (a local code is
# S="LOCAL" with its table named in SL): read back by our importer, ignored by others.
LOCAL_STATUS = "SECRETUM-PROBLEM-STATUS"  # resolved, beside the lifecycle "inactive"
LOCAL_SEVERITY = "SECRETUM-SEVERITY"  # mild, moderate, severe
LOCAL_DOSE = "SECRETUM-VACCINE-DOSE"  # 1…5, booster
LOCAL_SITE = "SECRETUM-VACCINE-SITE"  # left-arm…
LOCAL_STRENGTH = "SECRETUM-STRENGTH"  # 5 mg: also written at the end of the product's name
LOCAL_ROUTE = "SECRETUM-DRUG-ROUTE"  # oral…: Secretum's words, not the CD-DRUG-ROUTE codes
_HEAD = 4096


def q(tag: str) -> str:
    """The qualified name of a KMEHR element."""
    return f"{{{NS}}}{tag}"


def detect(data: bytes) -> bool:
    """Whether ``data`` looks like a KMEHR message (its root element in the KMEHR namespace, in
    the first 4 KiB): a cheap look for a format registry, no parsing (the importer checks)."""
    head = data[:_HEAD].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"<") and b"kmehrmessage" in head and NS.encode() in head
