"""The release that ``secretum upgrade`` must upgrade from (tests/backup/test_upgrade.py).

Bump PREVIOUS_RELEASE to the landed commit at each landing (the commit the main branch pointed
at before the merge): the upgrade test then makes its database with that release's code.
"""

PREVIOUS_RELEASE = "49897dc"
