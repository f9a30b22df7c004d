"""The password hasher of the tests: Django's Argon2id hasher (the production one, same
``argon2$argon2id$`` hashes, same code paths) at RFC 9106's lowest cost.

Production (secretum/settings.py) hashes with Django's defaults, 2 passes over 100 MiB in 8 lanes:
about 0.24 s of CPU a hash, spent again on each check. No test asserts that cost (B2's evidence
checks the variant, Argon2id; tests/compliance/test_evidence.py keeps the production hasher), so
the suite's hundreds of fictitious passwords are hashed with one pass over 1 MiB instead.
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class QuickArgon2(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 1024  # KiB
    parallelism = 1
