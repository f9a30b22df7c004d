"""Recovery sheets: what a practice prints and keeps apart from the server (O2, I2).

Each piece of recovery material (a passphrase recovery file, or one person's share) is written
as a text file whose comment lines say, in the practice's language, what it is, for which
instance, when it was made and how to recover with it; then its numbered lines (each with its
checksum) and its QR code form (``secretum.crypto.custody``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from secretum.crypto.custody import Kind, Material


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
