"""Serving nodes of one installation (issue 17, E10, O2, D2): the key material made on one node
and taken by another, and no rotation while another node serves with a copy of the key file.

An attacker's angles: material opened with a wrong passphrase, made by another installation,
older than the node's own, altered or cut; a node joined to a database of another installation;
a rotation started while another node reads a copy that would lack the new key.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from secretum import node_material
from secretum.audit.models import Action, AuditEvent
from secretum.crypto import age, indexkeys, nodes, rotation
from secretum.crypto.management.commands import node_announce
from secretum.crypto.models import KeyFingerprint, ServingNode
from tests.core.test_instance_key import one_sentence, secretum
from tests.crypto.test_rotation import _key_file, _rotate

OTHER = "node-b.example:/srv/secretum"


def _other(seen: dt.datetime | None = None, **fields: Any) -> ServingNode:
    now = seen or timezone.now()
    values = {"host": "node-b.example", "key_file": "/srv/secretum/secretum.key"} | fields
    return ServingNode.objects.create(
        name=OTHER, kek_versions=[1], started_at=now, seen_at=now, **values
    )


def _export(tmp_path: Path, **options: Any) -> tuple[Path, str]:
    out, text = tmp_path / "node.age", io.StringIO()
    call_command("node_export", out=str(out), stdout=text, **options)
    said = text.getvalue()
    passphrase = (
        said.split("Passphrase, shown once: ")[1].split()[0] if "Passphrase" in said else ""
    )
    return out, passphrase


def _join(material: Path, node: Path, passphrase: str, *more: str, **env: str) -> int:
    secret = material.with_suffix(".pass")
    secret.write_text(passphrase)
    argv = [str(material), "--home", str(node), "--passphrase-file", str(secret), *more]
    return node_material.join(argv, environ=dict(env))


# Rotations and the other nodes (``nodes``)


def test_no_rotation_while_another_node_serves_with_a_copy_of_the_key_file(
    home: Any, db: Any, quick: None
) -> None:
    """E10, O2: neither key may change under a node whose copy would lack the new one; the
    refusal names the node and what to do, and leaves the key file as it was."""
    _other()
    before = home.key_file.read_bytes()
    for options in ({}, {"index_key": True}):
        with pytest.raises(nodes.OtherNodesServe) as refused:
            _rotate(**options)
        assert OTHER in str(refused.value) and "secretum node join" in str(refused.value)
        assert home.key_file.read_bytes() == before
    # Whoever calls them: the steps themselves refuse (the daily resizing of the index too).
    with pytest.raises(nodes.OtherNodesServe, match="key-encryption key"):
        rotation.start()
    with pytest.raises(nodes.OtherNodesServe, match="search index key"):
        indexkeys.start({})


def test_a_rotation_goes_on_once_the_other_node_stopped_or_died(
    home: Any, db: Any, quick: None
) -> None:
    node = _other()
    node.delete()  # stopped: withdrawn at once
    assert "retired: 1" in _rotate()
    _other(seen=timezone.now() - nodes.STALE - dt.timedelta(seconds=1))  # killed: stale
    assert "retired: 2" in _rotate()


def test_nodes_of_one_host_reading_one_key_file_share_every_rotation(
    home: Any, db: Any, quick: None
) -> None:
    """A second serve of this host on the same key file (SECRETUM_KEY_FILE) reads each rotation
    as this one's workers do; the same path on another host is another file."""
    mine = str(home.key_file.resolve())
    _other(host=socket.gethostname(), key_file=mine)
    assert nodes.others() == []
    assert "retired: 1" in _rotate()
    ServingNode.objects.update(host="node-b.example")
    assert [n.name for n in nodes.others()] == [OTHER]


def test_a_key_given_in_the_environment_is_never_taken_for_a_shared_file(
    settings: Any, home: Any, db: Any
) -> None:
    settings.INSTANCE = type(home)(home.home, key_text=home.key_content())
    _other(host=socket.gethostname(), key_file="environment")
    assert [n.name for n in nodes.others()] == [OTHER]


def _node_events() -> list[tuple[str, dict[str, str]]]:
    found = AuditEvent.objects.filter(resource=nodes.RESOURCE).order_by("seq")
    return [(e.action, json.loads(e.detail)) for e in found]


def test_a_node_announces_its_key_versions_and_withdraws_when_serve_stops_it(
    home: Any, db: Any, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E10, O2, D1: a node's announcements keep its key file's versions current; its beginning
    and its end of serving are an audit event each, naming the node and its key file's versions,
    never a key; the announcements between them are none."""
    call_command("node_announce")  # once (serve: every minute)
    node = ServingNode.objects.get()
    assert node.name == nodes.name() and node.kek_versions == [1]
    assert str(node) == f"ServingNode {nodes.name()}"  # as the admin and a shell name it
    assert node.key_file == str(home.key_file.resolve())
    mine = {"node": nodes.name(), "key_file": node.key_file, "kek_versions": "1"}
    assert _node_events() == [(Action.CREATE, mine)]
    _rotate()
    later = timezone.now() + dt.timedelta(minutes=1)
    nodes.announce(later)
    call_command("node_announce")
    node.refresh_from_db()
    assert sorted(node.kek_versions) == [1, 2] and node.started_at < later
    assert len(_node_events()) == 1
    ran: list[int] = []
    monkeypatch.setattr(node_announce, "run_every", lambda every, once, name: ran.append(every))
    call_command("node_announce", every=60)  # serve stopped it: it withdraws
    assert ran == [60] and not ServingNode.objects.exists()
    assert _node_events()[1] == (Action.DELETE, {**mine, "kek_versions": "1,2"})
    call_command("node_announce", every=60)  # withdrawn already: nothing to record
    assert len(_node_events()) == 2


# The key material (``node_material``)


def test_a_node_joins_with_the_installation_s_keys_and_a_tls_pair_of_its_own(
    home: Any, db: Any, tmp_path: Path
) -> None:
    """The joined home holds the same key file and audit keys, owner-only; its certificate is
    its own; the export is an audit event naming how it is encrypted, never a key."""
    material, passphrase = _export(tmp_path)
    assert material.stat().st_mode & 0o777 == 0o600
    raw = material.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1") and _key_file(home)["kek"].encode() not in raw
    event = AuditEvent.objects.filter(action=Action.EXPORT, resource=rotation.RESOURCE).get()
    detail = json.loads(event.detail)
    assert detail["encryption"] == "passphrase" and passphrase not in event.detail
    node = tmp_path / "node-b"
    assert _join(material, node, passphrase) == 0
    assert (node / "secretum.key").read_bytes() == home.key_file.read_bytes()
    for name in ("audit/checkpoint-signing.key", "audit/checkpoint-signing.pub"):
        assert (node / name).read_bytes() == (home.home / name).read_bytes()
    assert (node / "audit/event-mac.key").read_bytes() == (
        home.home / "audit/event-mac.key"
    ).read_bytes()
    assert (node / "tls/cert.pem").read_bytes() != (home.home / "tls/cert.pem").read_bytes()
    for name in ("secretum.key", "audit/event-mac.key", "tls/key.pem"):
        assert (node / name).stat().st_mode & 0o777 == 0o600, name
    assert (node.stat().st_mode & 0o777) == 0o700


def test_material_for_a_recipient_opens_only_with_its_identity(
    home: Any, db: Any, tmp_path: Path
) -> None:
    identity = age.X25519Identity.generate()
    material, passphrase = _export(tmp_path, recipient=identity.recipient().encode())
    assert passphrase == ""
    key = tmp_path / "identity.txt"
    key.write_text(identity.encode())
    assert _join(material, tmp_path / "b", "", "--identity", str(key)) == 0
    stranger = tmp_path / "stranger.txt"
    stranger.write_text(age.X25519Identity.generate().encode())
    with pytest.raises(node_material.NodeMaterialError, match="does not open"):
        _join(material, tmp_path / "c", "", "--identity", str(stranger))
    with pytest.raises(node_material.NodeMaterialError, match="--identity"):
        _join(material, tmp_path / "c", "", "--identity", str(tmp_path / "none"))
    assert not (tmp_path / "c").exists()


def test_after_a_rotation_the_node_takes_the_newer_copy_never_an_older_one(
    home: Any, db: Any, quick: None, tmp_path: Path, capsys: Any
) -> None:
    old, old_pass = _export(tmp_path)
    node = tmp_path / "node-b"
    _join(old, node, old_pass)
    assert f"Node home {node}: made from the material" in capsys.readouterr().out
    certificate = (node / "tls/cert.pem").read_bytes()
    _rotate()
    (tmp_path / "new").mkdir()
    new, new_pass = _export(tmp_path / "new")
    assert _join(new, node, new_pass) == 0
    assert f"Node home {node}: key material renewed from the material" in capsys.readouterr().out
    assert json.loads((node / "secretum.key").read_text())["kek_version"] == 2
    assert (node / "tls/cert.pem").read_bytes() == certificate  # the node's own, kept
    with pytest.raises(node_material.NodeMaterialError, match="older than"):
        _join(old, node, old_pass)
    assert json.loads((node / "secretum.key").read_text())["kek_version"] == 2


def test_material_is_refused_by_a_wrong_passphrase_another_installation_or_alteration(
    home: Any, db: Any, tmp_path: Path
) -> None:
    material, passphrase = _export(tmp_path)
    with pytest.raises(node_material.NodeMaterialError, match="does not open"):
        _join(material, tmp_path / "b", "not-the-passphrase")
    cut = tmp_path / "cut.age"
    cut.write_bytes(material.read_bytes()[:-20])
    with pytest.raises(node_material.NodeMaterialError, match="does not open"):
        _join(cut, tmp_path / "b", passphrase)
    with pytest.raises(node_material.NodeMaterialError, match="cannot be read"):
        _join(tmp_path / "missing.age", tmp_path / "b", passphrase)
    # Another installation's key file already in the home.
    (tmp_path / "b").mkdir(mode=0o700)
    other = json.loads(home.key_file.read_text())
    other["kek"] = base64.b64encode(os.urandom(32)).decode()
    other["blind_index_key"] = base64.b64encode(os.urandom(32)).decode()
    (tmp_path / "b/secretum.key").write_text(json.dumps(other))
    (tmp_path / "b/secretum.key").chmod(0o600)
    with pytest.raises(node_material.NodeMaterialError, match="another installation"):
        _join(material, tmp_path / "b", passphrase)
    with pytest.raises(node_material.NodeMaterialError, match="SECRETUM_KEY is set"):
        _join(material, tmp_path / "d", passphrase, SECRETUM_KEY="{}")


def _sealed(tmp_path: Path, content: dict[str, Any]) -> Path:
    path = tmp_path / "forged.age"
    path.write_bytes(
        node_material.seal(json.dumps(content).encode(), age.ScryptRecipient("pp", 10))
    )
    return path


def test_forged_material_is_refused_in_one_sentence(home: Any, db: Any, tmp_path: Path) -> None:
    """Whoever holds the passphrase but makes their own file: not node material, a part missing,
    a key file that is not the one it names."""
    good = json.loads(node_material.bundle(home, "a", timezone.now()))
    cases = {
        "not a Secretum node": {**good, "format": "something-else"},
        "lacks audit/event-mac.key": {
            **good,
            "files": {k: v for k, v in good["files"].items() if "mac" not in k},
        },
        "not the one it names": {**good, "fingerprint": "0" * len(good["fingerprint"])},
    }
    for said, content in cases.items():
        with pytest.raises(node_material.NodeMaterialError, match=said):
            _join(_sealed(tmp_path, content), tmp_path / "b", "pp")
    assert not (tmp_path / "b").exists()


def test_a_node_joins_only_the_database_of_its_installation(
    home: Any, db: Any, tmp_path: Path
) -> None:
    material, passphrase = _export(tmp_path)
    KeyFingerprint.objects.filter(pk=1).update(fingerprint="f" * 64)
    with pytest.raises(node_material.NodeMaterialError, match="another installation than"):
        _join(material, tmp_path / "b", passphrase)
    KeyFingerprint.objects.all().delete()
    with pytest.raises(node_material.NodeMaterialError, match="holds no Secretum installation"):
        _join(material, tmp_path / "b", passphrase)
    assert not (tmp_path / "b").exists()


def test_the_command_line_joins_nothing_to_a_database_without_the_installation(
    home: Any, db: Any, tmp_path: Path
) -> None:
    """`secretum node join` on a machine without SECRETUM_DATABASE_URL: the home's own SQLite
    file, new or empty, holds no installation; one sentence, no home left behind."""
    material, passphrase = _export(tmp_path)
    secret = tmp_path / "pass.txt"
    secret.write_text(passphrase)
    node = tmp_path / "node-b"
    args = ("node", "join", str(material), "--home", str(node), "--passphrase-file", str(secret))
    refused = secretum(node, *args)
    assert "holds no Secretum installation" in one_sentence(refused)
    assert not node.exists()
    (node / "data").mkdir(parents=True)
    (node / "data/secretum.sqlite3").write_bytes(b"")  # an empty database: no table
    assert "holds no Secretum installation" in one_sentence(secretum(node, *args))
    assert not (node / "secretum.key").exists()


def test_the_command_refuses_to_overwrite_or_to_write_nowhere(
    home: Any, db: Any, tmp_path: Path
) -> None:
    from django.core.management import CommandError

    taken = tmp_path / "taken.age"
    taken.write_bytes(b"")
    with pytest.raises(CommandError, match="a file is there already"):
        call_command("node_export", out=str(taken))
    with pytest.raises(CommandError, match="no such folder"):
        call_command("node_export", out=str(tmp_path / "none" / "x.age"))
    with pytest.raises(CommandError, match="--recipient"):
        call_command("node_export", out=str(tmp_path / "x.age"), recipient="age1nonsense")
    (home.home / "audit/event-mac.key").unlink()
    with pytest.raises(node_material.NodeMaterialError, match="cannot be read"):
        call_command("node_export", out=str(tmp_path / "x.age"))
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_a_join_that_fails_halfway_leaves_no_half_made_home(
    home: Any, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new home whose writing fails (a full disk making the TLS pair) is removed whole; a
    node's existing home is kept."""
    from secretum import init

    material, passphrase = _export(tmp_path)

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(init, "create_tls", full)
    with pytest.raises(OSError, match="No space"):
        _join(material, tmp_path / "b", passphrase)
    assert not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir(mode=0o700)
    with pytest.raises(OSError, match="No space"):
        _join(material, tmp_path / "c", passphrase)
    assert (tmp_path / "c").is_dir()


def test_a_node_left_with_the_copy_made_before_a_rotation_is_told_how_to_catch_up(
    home: Any, practitioner: Any, quick: None, tmp_path: Path, settings: Any
) -> None:
    """E10, O2: rotated elsewhere while it was stopped, a node's key file still bears the
    installation's fingerprint but lacks the version the data keys now name: it refuses to
    start, and says that its copy is behind and how to take the current one."""
    from secretum import instance
    from secretum.crypto import binding, keyring
    from secretum.patients import services as patients
    from tests.conftest import actor_for, identity

    patients.register_patient(actor_for(practitioner), identity())
    material, passphrase = _export(tmp_path)
    _join(material, tmp_path / "node-b", passphrase)
    _rotate()
    settings.INSTANCE = instance.Instance(tmp_path / "node-b")
    keyring.reset_cache()
    with pytest.raises(binding.KeyMismatch) as refused:
        binding.require_key_belongs()
    said = str(refused.value)
    assert "is the one of the installation in the database" in said
    assert "an older copy of it" in said and "'secretum node join FILE' here" in said


def test_check_names_the_serving_nodes_and_a_copy_left_behind(
    home: Any, db: Any, quick: None, settings: Any, tmp_path: Path
) -> None:
    """`secretum check` says which nodes serve, this one first, and names a copy of the key
    file that lacks this node's current KEK version; it says when it cannot tell."""
    from django.db import connection

    from secretum import instance

    assert nodes.status_lines() == [
        "Serving nodes: none announced in the last 3 minutes (serve announces itself)."
    ]
    nodes.announce()
    _other()
    [said] = nodes.status_lines()
    assert said.startswith(f"Serving nodes (2): {nodes.name()} (this node; KEK versions 1)")
    assert f"{OTHER} (seen 0 s ago; KEK versions 1)" in said and "behind" not in said
    ServingNode.objects.filter(name=OTHER).delete()
    _rotate()
    nodes.announce()
    _other()
    [said] = nodes.status_lines()
    assert f"{OTHER} (seen 0 s ago; KEK versions 1; behind: lacks KEK version 2)" in said
    out = io.StringIO()
    with contextlib.suppress(CommandError):  # this test's instance has warnings of its own
        call_command("secretum_check", stdout=out, stderr=io.StringIO())
    assert f"{OTHER} (seen" in out.getvalue()
    with connection.cursor() as cursor:  # a release installed, not migrated yet
        cursor.execute("DROP TABLE crypto_servingnode")
    [said] = nodes.status_lines()
    assert said.startswith("Serving nodes: unknown, the database did not tell (")
    settings.INSTANCE = instance.Instance(tmp_path / "no-instance")  # the key file's check tells
    assert nodes.status_lines() == []
