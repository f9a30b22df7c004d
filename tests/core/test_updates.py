"""Updates (G2): the version and age of the installation, a CycloneDX bill of materials, and
the installed packages checked against an offline OSV database (the fictitious advisories of
tests/core/osv/), whose HIGH and CRITICAL findings reach the managers."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from secretum.compliance import evidence, register, reminders
from secretum.compliance.evidence import Verdict
from secretum.core import host_checks, updates
from secretum.lib import osv, sbom
from tests.conftest import actor_for
from tests.serving import ROOT, secretum

FIXTURES = Path(__file__).resolve().parent / "osv"
DJANGO = metadata.version("Django")
# The fixture advisories that cover nothing installed, or nothing at all.
HARMLESS = (
    "SECRETUM-TEST-2026-0002",
    "SECRETUM-TEST-2026-0004",
    "SECRETUM-TEST-2026-0005",
    "SECRETUM-TEST-2026-0006",
)


def database(folder: Path, names: tuple[str, ...] | None = None, days_old: float = 0) -> Path:
    """A copy of the fixture advisories (all, or ``names``), last updated ``days_old`` ago."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in FIXTURES.glob("*.json"):
        if names is None or item.stem in names:
            shutil.copy(item, folder / item.name)
    stamp = time.time() - days_old * 86400
    for item in folder.iterdir():
        os.utime(item, (stamp, stamp))
    return folder


def zipped(folder: Path, target: Path, days_old: float = 0) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(folder.glob("*.json")):
            archive.write(item, item.name)
    stamp = time.time() - days_old * 86400
    os.utime(target, (stamp, stamp))
    return target


# --- which versions an advisory covers ---------------------------------------------------------


def _entry(*events: dict[str, str], versions: tuple[str, ...] = (), kind: str = "ECOSYSTEM") -> Any:
    return {
        "package": {"ecosystem": "PyPI", "name": "django"},
        "ranges": [{"type": kind, "events": list(events)}],
        "versions": list(versions),
    }


@pytest.mark.parametrize(
    ("events", "version", "covered", "fix"),
    [
        (({"introduced": "0"}, {"fixed": "5.2.20"}), "5.2.19", True, "5.2.20"),
        (({"introduced": "0"}, {"fixed": "5.2.20"}), "5.2.20", False, ""),
        (({"introduced": "0"}, {"fixed": "5.2.20"}), "5.2.20rc1", True, "5.2.20"),
        (({"introduced": "5.0"}, {"fixed": "5.2.20"}), "4.2.30", False, ""),
        (({"introduced": "0"}, {"last_affected": "5.2.19"}), "5.2.19", True, ""),
        (({"introduced": "0"}, {"last_affected": "5.2.19"}), "5.2.19.post1", False, ""),
        (({"introduced": "0"},), "5.2.19", True, ""),
        # Two ranges in one: 4.0 up to 4.2.5, then 5.0 up to 5.2.3.
        (
            (
                {"introduced": "4.0"},
                {"fixed": "4.2.5"},
                {"introduced": "5.0"},
                {"fixed": "5.2.3"},
            ),
            "4.2.9",
            False,
            "",
        ),
        (
            ({"fixed": "5.2.3"}, {"introduced": "5.0"}, {"fixed": "4.2.5"}, {"introduced": "4.0"}),
            "5.1",
            True,
            "5.2.3",
        ),
        (({"introduced": "0"}, {"limit": "5.0"}), "5.2.19", False, ""),
        (({"introduced": "0"}, {"limit": "6.0"}), "5.2.19", True, ""),
        (({"introduced": "not a version"}, {"fixed": "1.0"}), "5.2.19", False, ""),
    ],
)
def test_version_ranges_follow_the_osv_rules(
    events: tuple[dict[str, str], ...], version: str, covered: bool, fix: str
) -> None:
    assert osv.covers(_entry(*events), version) == (covered, fix)


def test_semver_ranges_count_and_git_ranges_do_not() -> None:
    assert osv.covers(_entry({"introduced": "1.0.0"}, kind="SEMVER"), "1.2.3")[0]
    assert not osv.covers(_entry({"introduced": "0"}, kind="GIT"), "1.2.3")[0]


def test_explicit_versions_count_whatever_the_ranges() -> None:
    entry = _entry({"introduced": "0"}, {"fixed": "1.0"}, versions=("5.2.19", "legacy-2"))
    assert osv.covers(entry, "5.2.19") == (True, "")
    assert osv.covers(entry, "5.2.19.0") == (True, "")  # the same PEP 440 version
    assert osv.covers(entry, "legacy-2") == (True, "")  # not PEP 440: only listed counts
    assert osv.covers(entry, "legacy-3") == (False, "")
    fixed_later = _entry({"introduced": "0"}, {"fixed": "5.2.20"}, versions=("5.2.19",))
    assert osv.covers(fixed_later, "5.2.19") == (True, "5.2.20")


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
        ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:N/A:N", 4.1),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", None),  # A missing
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", None),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", None),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", None),  # CVSS v2
    ],
)
def test_cvss3_base_scores_are_those_of_the_specification(vector: str, score: float) -> None:
    assert osv.cvss3_base_score(vector) == score


def test_severity_ratings_of_scores() -> None:
    assert [osv.severity_of_score(s) for s in (0.0, 0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0)] == [
        "",
        "LOW",
        "LOW",
        "MODERATE",
        "MODERATE",
        "HIGH",
        "HIGH",
        "CRITICAL",
    ]


# --- the fixture database ----------------------------------------------------------------------


def test_the_fixture_database_finds_the_installed_django_and_sqlparse(tmp_path: Path) -> None:
    """One finding per flaw: the PYSEC-like and GHSA-like records of one Django flaw merge (their
    shared alias), rated CRITICAL (the CVSS vector beats "HIGH"); the advisory fixed before the
    installed version, the withdrawn one, the npm one and the one for a package not installed
    find nothing; the truncated file is named."""
    installed = dict(updates.installed())
    scan = osv.scan(database(tmp_path / "db"), installed)
    assert scan.advisories == 8
    assert scan.unreadable == ["SECRETUM-TEST-BROKEN.json"]
    django, low = scan.findings
    assert (django.package, django.version) == ("Django", DJANGO)
    assert django.ids == ("CVE-2099-00001", "GHSA-test-0001-fict", "SECRETUM-TEST-2026-0001")
    assert (django.severity, django.fixed_in, django.serious) == ("CRITICAL", "999.0", True)
    assert (low.package, low.severity, low.fixed_in, low.serious) == ("sqlparse", "LOW", "", False)
    assert scan.serious == [django]


def test_a_zip_reads_like_the_folder_and_a_folder_of_zips_too(tmp_path: Path) -> None:
    installed = dict(updates.installed())
    folder = database(tmp_path / "db")
    expected = osv.scan(folder, installed).findings
    archive = zipped(folder, tmp_path / "all.zip")
    assert osv.scan(archive, installed).findings == expected
    (tmp_path / "zips").mkdir()
    shutil.copy(archive, tmp_path / "zips" / "all.zip")
    assert osv.scan(tmp_path / "zips", installed).findings == expected


def test_records_of_odd_shapes_are_read_for_what_they_hold(tmp_path: Path) -> None:
    """Advisories are data from elsewhere: parts of the wrong type are passed over, the rest
    still counts; a JSON document that is no object, or a broken local header, is skipped."""
    odd = {
        "id": "SECRETUM-TEST-ODD",
        "severity": ["CRITICAL", {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}],
        "database_specific": {"severity": 9},
        "affected": [
            "django",
            {"package": "django"},
            {"package": {"ecosystem": "PyPI", "name": "another"}},
            {
                "package": {"ecosystem": "PyPI", "name": "Django"},
                "ranges": [
                    "ECOSYSTEM",
                    {"type": "ECOSYSTEM", "events": ["0", {"introduced": "0"}]},
                ],
            },
        ],
    }
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    (tmp_path / "list.json").write_text('[{"name": "django"}]')
    scan = osv.scan(tmp_path, {"Django": DJANGO})
    (finding,) = scan.findings
    assert (finding.ids, finding.severity, finding.fixed_in) == (("SECRETUM-TEST-ODD",), "", "")
    assert scan.advisories == 2 and scan.unreadable == []


def test_zip_members_stored_compressed_otherwise_or_damaged(tmp_path: Path) -> None:
    """Members stored, deflated or compressed with bzip2 read alike; a damaged one (its bytes
    changed in the archive: the CRC-32 no longer matches) is named unreadable, the rest read."""
    record = (FIXTURES / "SECRETUM-TEST-2026-0001.json").read_bytes()
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("stored.json", record, zipfile.ZIP_STORED)
        out.writestr("bzip2.json", record, zipfile.ZIP_BZIP2)
        out.writestr("damaged.json", record, zipfile.ZIP_STORED)
        out.writestr("README.txt", "not an advisory")
    data = archive.read_bytes()
    at = data.rindex(b"Fictitious test advisory")  # inside the last stored copy: damaged.json
    archive.write_bytes(data[:at] + b"X" + data[at + 1 :])
    scan = osv.scan(archive, {"Django": DJANGO})
    assert scan.advisories == 3 and scan.unreadable == ["all.zip:damaged.json"]
    (finding,) = scan.findings
    assert finding.ids == ("CVE-2099-00001", "SECRETUM-TEST-2026-0001")


def test_a_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "all.zip").write_text("not a zip")
    with pytest.raises(OSError, match="neither a folder nor a zip"):
        osv.scan(tmp_path / "all.zip", {"Django": DJANGO})


# --- the register (G2), `secretum check`, the managers ----------------------------------------


def _g2() -> evidence.Evidence:
    return evidence.gather(["G2"])["G2"]


def test_without_a_database_g2_is_not_met_and_says_how_to_get_one(
    settings: Any, db: Any, tmp_path: Path
) -> None:
    settings.SECRETUM_VULNERABILITY_DB = tmp_path / "vulnerabilities"
    found = _g2()
    assert found.verdict == Verdict.NOT_MET
    assert "No vulnerability database at" in found.summary
    assert updates.OSV_PYPI_URL in found.action and "every 30 days" in found.action
    assert found.details[0].startswith(f"Secretum {sbom.version_of('secretum')}, installed on")


def test_a_database_older_than_30_days_is_not_met(settings: Any, db: Any, tmp_path: Path) -> None:
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "db", HARMLESS, days_old=31)
    found = _g2()
    assert found.verdict == Verdict.NOT_MET and "31 days ago" in found.summary
    assert updates.OSV_PYPI_URL in found.action
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "db", HARMLESS, days_old=29)
    assert _g2().verdict == Verdict.MET


def test_an_unreadable_database_is_not_met(settings: Any, db: Any, tmp_path: Path) -> None:
    (tmp_path / "all.zip").write_text("not a zip")
    settings.SECRETUM_VULNERABILITY_DB = tmp_path / "all.zip"
    found = _g2()
    assert found.verdict == Verdict.NOT_MET and "cannot be read" in found.summary
    assert {m.id for m in host_checks._update_checks()} == {"secretum.W404"}


def test_a_current_database_without_serious_findings_is_met_with_version_and_age(
    settings: Any, db: Any, tmp_path: Path
) -> None:
    settings.SECRETUM_VULNERABILITY_DB = database(
        tmp_path / "db", (*HARMLESS, "SECRETUM-TEST-2026-0003"), days_old=2
    )
    found = _g2()
    assert found.verdict == Verdict.MET, found.summary
    assert "no known HIGH or CRITICAL vulnerability" in found.summary
    assert found.details[0].startswith(f"Secretum {sbom.version_of('secretum')}, installed on")
    assert any(d.startswith("sqlparse ") and "LOW" in d for d in found.details)
    assert host_checks._update_checks() == []


def test_a_serious_finding_fails_g2_warns_check_and_reaches_the_managers(
    settings: Any, db: Any, tmp_path: Path, manager: Any
) -> None:
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "db")
    found = _g2()
    assert found.verdict == Verdict.NOT_MET
    assert found.summary == (
        f"1 known HIGH or CRITICAL vulnerability in the installed packages: Django {DJANGO}."
    )
    assert any("SECRETUM-TEST-2026-0001" in d and "fixed in 999.0" in d for d in found.details)
    (warning,) = host_checks._update_checks()
    assert warning.id == "secretum.W403" and f"Django {DJANGO}" in warning.msg
    register.set_hosting(actor_for(manager), "local")
    assert "G2" in [r.id for r in reminders.reminders(actor_for(manager)).failing]
    summary = reminders.daily_summary()
    assert f"G2: {found.summary}" in summary.text


def test_the_age_of_the_installation_comes_from_init(settings: Any) -> None:
    created = updates.installed_at()
    assert created is not None
    key_file = json.loads(django_settings.INSTANCE.key_file.read_text())
    assert created == dt.datetime.fromisoformat(key_file["created"])
    later = updates.state(now=created + dt.timedelta(days=400, hours=1))
    assert later.age_days == 400


def test_check_prints_the_version_age_networks_and_database(
    settings: Any, db: Any, tmp_path: Path
) -> None:
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "db", HARMLESS)
    said = host_checks.status()
    assert said[0].startswith(f"Secretum {sbom.version_of('secretum')}, installed ")
    assert any(line.startswith("TLS certificate: ") for line in said)
    assert any("Allowed networks: not configured" in line for line in said)
    vulnerabilities = next(line for line in said if line.startswith("Vulnerability database: "))
    assert vulnerabilities.startswith(f"Vulnerability database: {tmp_path / 'db'}, updated ")
    assert "0 known vulnerabilities" in vulnerabilities
    settings.SECRETUM_ALLOWED_NETWORKS = ["192.168.1.0/24"]
    assert "Allowed networks: practice 192.168.1.0/24; VPN none; trusted proxies none." in (
        host_checks.status()
    )


def test_check_says_what_it_cannot_read(settings: Any, db: Any, tmp_path: Path) -> None:
    from secretum import instance

    settings.INSTANCE = instance.Instance(tmp_path / "elsewhere")  # no key file to date it
    settings.SECRETUM_TLS_CERT_FILE = tmp_path / "gone.pem"
    settings.SECRETUM_ALLOWED_NETWORKS = ["192.168.1.300/24"]  # the system check names it
    (tmp_path / "all.zip").write_text("not a zip")
    settings.SECRETUM_VULNERABILITY_DB = tmp_path / "all.zip"
    said = host_checks.status()
    # The host's firewall (E9, F3) and the antivirus (E2, tests/documents/test_check.py).
    firewall = [line for line in said if line.startswith(("Firewall: ", "Antivirus (E2): "))]
    assert len(firewall) == 2 and [line for line in said if line not in firewall] == [
        f"Secretum {sbom.version_of('secretum')}, installation date unknown.",
        f"Vulnerability database: {tmp_path / 'all.zip'} cannot be read ({tmp_path / 'all.zip'} "
        "is neither a folder nor a zip of OSV advisories).",
    ]
    assert _g2().details[0] == (
        f"Secretum {sbom.version_of('secretum')}; installation date unknown."
    )
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "old", HARMLESS, days_old=40)
    assert "(40 days ago), too old (G2 not met): put the OSV advisories" in next(
        line for line in host_checks.status() if line.startswith("Vulnerability database")
    )


def _secretum(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    return secretum({**environ, "PYTHONPATH": str(ROOT), **env}, *args)


def test_secretum_vulns_lists_the_findings_and_fails_on_a_serious_one(tmp_path: Path) -> None:
    """`secretum vulns --db` works on files alone: no instance needed."""
    home = str(tmp_path / "no-instance")
    found = _secretum("vulns", "--db", str(database(tmp_path / "db")), SECRETUM_HOME=home)
    assert found.returncode == 1, found.stderr
    assert f"Django {DJANGO}: CVE-2099-00001, GHSA-test-0001-fict, SECRETUM-TEST-2026-0001 " in (
        found.stdout
    )
    assert "(CRITICAL; fixed in 999.0)" in found.stdout
    assert "2 known vulnerabilities (1 HIGH or CRITICAL)" in found.stdout
    assert "HIGH or CRITICAL vulnerabilities: install the fixed versions now" in found.stderr
    clean = _secretum("vulns", "--db", str(database(tmp_path / "clean", HARMLESS)), "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout) == []
    stale = _secretum("vulns", "--db", str(database(tmp_path / "old", HARMLESS, days_old=45)))
    assert stale.returncode == 1 and "45 days old" in stale.stderr
    missing = _secretum("vulns", "--db", str(tmp_path / "none"))
    assert missing.returncode == 1 and updates.OSV_PYPI_URL in missing.stderr


# --- the bill of materials ---------------------------------------------------------------------


def test_the_sbom_is_cyclonedx_with_every_installed_package(tmp_path: Path) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "secretum.lib.sbom", "--output", str(tmp_path / "sbom.cdx.json")],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "components" in made.stdout
    bom = json.loads((tmp_path / "sbom.cdx.json").read_text())
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.5", 1)
    assert bom["serialNumber"].startswith("urn:uuid:")
    assert bom["metadata"]["component"]["name"] == "secretum"
    by_name = {c["name"]: c for c in bom["components"]}
    assert by_name["Django"]["purl"] == f"pkg:pypi/django@{DJANGO}"
    assert by_name["Django"]["version"] == DJANGO
    assert by_name["argon2-cffi"]["purl"].startswith("pkg:pypi/argon2-cffi@")
    assert len(by_name) == len(bom["components"])  # each once
    assert set(by_name) | {"secretum"} >= {n for n, _ in updates.installed()}
    refs = {c["bom-ref"] for c in bom["components"]} | {bom["metadata"]["component"]["bom-ref"]}
    django = next(d for d in bom["dependencies"] if d["ref"] == by_name["Django"]["bom-ref"])
    assert f"pkg:pypi/sqlparse@{metadata.version('sqlparse')}" in django["dependsOn"]
    assert all(set(d["dependsOn"]) <= refs for d in bom["dependencies"])


def test_archive_hashes_recorded_by_the_installer_are_in_the_sbom(tmp_path: Path) -> None:
    """PEP 610: an installer that knew the archive's hash wrote it beside the metadata."""
    info = tmp_path / "fictitious_tool-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fictitious_tool\nVersion: 1.0\n")
    (info / "direct_url.json").write_text(
        json.dumps(
            {
                "url": "https://files.example.invalid/fictitious_tool-1.0.tar.gz",
                "archive_info": {"hashes": {"sha256": "ab" * 32, "md5": "cd" * 16, "xx": "1"}},
            }
        )
    )
    dist = metadata.PathDistribution(info)
    component = sbom._component(dist)
    assert component["purl"] == "pkg:pypi/fictitious-tool@1.0"
    assert component["hashes"] == [
        {"alg": "MD5", "content": "cd" * 16},
        {"alg": "SHA-256", "content": "ab" * 32},
    ]
    (info / "direct_url.json").write_text(
        json.dumps({"url": "x", "archive_info": {"hash": "sha256=" + "ef" * 32}})
    )
    assert sbom._hashes(dist) == [{"alg": "SHA-256", "content": "ef" * 32}]
    (info / "direct_url.json").write_text("not json")
    assert sbom._hashes(dist) == []


def test_the_register_check_of_g2_is_quick_once_the_database_was_read(
    settings: Any, db: Any, tmp_path: Path
) -> None:
    """The register asks on every page: the scan is kept until the database changes."""
    settings.SECRETUM_VULNERABILITY_DB = database(tmp_path / "db")
    first = updates.state()
    started = timezone.now()
    again = updates.state()
    assert again.scan is first.scan
    assert (timezone.now() - started).total_seconds() < 0.5
    os.utime(tmp_path / "db" / "SECRETUM-TEST-2026-0003.json")
    assert updates.state().scan is not first.scan
