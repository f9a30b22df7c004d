"""Recovery sheets: what a practice prints and keeps apart from the server (O2, I2).

Each piece of recovery material (a passphrase recovery file, or one person's share) is written
as a text file whose comment lines say, in the practice's language, what it is, for which
instance, when it was made and how to recover with it; then its numbered lines (each with its
checksum) and its QR code form (``secretum.crypto.custody``); and as a one-page PDF to print
(``lib.pdf``: every letter of the practice's language printed as written; uncompressed) with the
same text and the QR code (segno), which a phone's QR reader turns back into the material.
"""

from __future__ import annotations

import io

import segno
from django.utils.translation import gettext as _

from secretum.crypto.custody import Kind, Material, lines, qr_text
from secretum.lib.pdf import Document


def title(material: Material) -> str:
    if material.kind == Kind.PASSPHRASE:
        return _("Secretum key recovery: the key file, sealed under the practice's passphrase")
    k, n = material.threshold
    return _("Secretum key recovery: share %(i)d of %(n)d (%(k)d shares are needed)") % {
        "i": material.index,
        "n": n,
        "k": k,
    }


def instructions(material: Material) -> list[str]:
    """What the sheet says, line by line, in the active language."""
    said = [
        title(material),
        _("Instance: %(id)s. Made on %(date)s (UTC). Set: %(set)s.")
        % {
            "id": material.instance_id,
            "date": material.made_at.strftime("%Y-%m-%d"),
            "set": material.material_id,
        },
        "",
    ]
    if material.kind == Kind.PASSPHRASE:
        said += [
            _("Keep this sheet away from the server and its backups, and the passphrase"),
            _("apart from this sheet: together they rebuild the key file of every record."),
            _("To recover: secretum keys recover THIS_FILE --home INSTANCE_FOLDER"),
        ]
    else:
        said += [
            _("Only its holder keeps this share, away from the server and its backups; fewer"),
            _("shares than needed reveal nothing. The holders meet to recover the key file:"),
            _("secretum keys recover --share FILE_1 --share FILE_2 --home INSTANCE_FOLDER"),
        ]
    said += [
        _("Lines can be typed from the sheet: each line ends with a checksum that points out"),
        _("a typing mistake ('--share -' reads them from the keyboard)."),
        _("Test it once a year: secretum keys test-recovery (nothing is written)."),
    ]
    return said


def qr_png(material: Material) -> bytes:
    """The QR code of the material (error correction M: a creased sheet still reads)."""
    out = io.BytesIO()
    segno.make(qr_text(material), error="m").save(out, kind="png", scale=4, border=4)
    return out.getvalue()


def qr_alt() -> str:
    """The QR code's text alternative (issue 16: a figure says what it is)."""
    return _(
        "QR code holding the numbered lines above: a phone's QR reader turns it back into the "
        "recovery material."
    )


def pdf(material: Material) -> bytes:
    """One A4 page: what it is and what to do, the numbered lines, the QR code."""
    doc = Document("portrait", title(material))
    doc.set_compression(False)
    doc.set_margins(15, 15, 15)
    doc.add_page()
    said = instructions(material)
    doc.paragraph(said[0], size=13, style="B", height=7, tag="H1")
    for line in said[1:]:
        if line:
            doc.paragraph(line)
        else:
            doc.ln(5)
    doc.ln(4)
    doc.set_font("Courier", size=11)  # the lines to type: a fixed width, ASCII only
    with doc.element("L"):  # tagged (issue 16): a screen reader reads them line by line
        for line in lines(material):
            with doc.element("LI"), doc.element("LBody", content=True):
                doc.cell(0, 5.5, line, new_x="LMARGIN", new_y="NEXT")
    doc.ln(4)
    with doc.element("Figure", content=True, alt=qr_alt()):
        doc.image(io.BytesIO(qr_png(material)), w=70)
    return bytes(doc.output())
