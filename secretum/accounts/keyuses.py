"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): the TOTP
seeds. A factor's row seal covers its seed: ``crypto.rotation`` renews it where it held.
Sessions are sealed under the KEK too, but live for hours: one sealed under a retired version
opens as signed out (``sessions``), its holder signs in again."""

from __future__ import annotations

from secretum.accounts import services
from secretum.crypto.rotation import KekUse, Kind, register

TOTP_SEEDS = register(KekUse("accounts.Factor", "totp_secret", Kind.SECRET, services.totp_aad))
