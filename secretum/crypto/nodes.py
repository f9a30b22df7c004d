"""The serving nodes of one installation, and the key rotations they allow (E10, O2, issue 17).

A hosting provider runs several ``secretum serve`` nodes over one PostgreSQL, each with a home of
its own that holds a copy of the installation's key material (``secretum node export`` on one,
``secretum node join`` on the other: ``secretum.node_material``). Each copy is a file of
its own: a rotation on one node writes a new key-encryption key, or a new search index key, into
that node's key file only. The others would then meet data keys wrapped under a version their
copy lacks (every chart a rotation re-wrapped refused on them) and search tokens under a key they
do not hold (every search empty), until their copy is replaced.

So each ``serve`` announces itself in the database once a minute (``announce``, the periodic
task ``secretum node_announce``; ``withdraw`` when it stops): its host, its instance folder, the
key file it reads and that file's KEK versions, never a key. A rotation of the KEK or of the
index key is refused while another node serves with a key file of its own (``others``: seen in
the last ``STALE``; nodes of one host reading the same key file share every rotation, as the
workers of one node do), with the sentence that says what to do: stop them, rotate, give each
the new material, start them again.
"""

from __future__ import annotations

import datetime as dt
import socket

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from secretum.crypto.models import ServingNode
from secretum.instance import InstanceError

# The audit log's resource for a node that begins or ends serving (events by the command).
RESOURCE = "crypto.ServingNode"
# Three announcements missed: a node killed without withdrawing is no longer counted.
STALE_MINUTES = 3
STALE = dt.timedelta(minutes=STALE_MINUTES)
ENVIRONMENT = "environment"


def _key_file() -> str:
    inst = settings.INSTANCE
    return ENVIRONMENT if inst.provider == ENVIRONMENT else str(inst.key_file.resolve())


def name() -> str:
    """This node: its host and its instance folder."""
    return f"{socket.gethostname()}:{settings.INSTANCE.home.resolve()}"


def announce(now: dt.datetime | None = None) -> tuple[ServingNode, bool]:
    """Record that this node serves, and what its key file holds now (read afresh: a rotation
    or a new copy is told at the next announcement); True with the row when the node has just
    begun serving."""
    now = now or timezone.now()
    said = {
        "host": socket.gethostname(),
        "key_file": _key_file(),
        "kek_versions": settings.INSTANCE.read_key_versions().versions,
        "seen_at": now,
    }
    return ServingNode.objects.update_or_create(
        name=name(), defaults=said, create_defaults={**said, "started_at": now}
    )


def withdraw() -> ServingNode | None:
    """This node stops serving: a rotation no longer waits for it. The row it had, if any."""
    node = ServingNode.objects.filter(name=name()).first()
    if node is not None:
        ServingNode.objects.filter(pk=node.pk).delete()
    return node


def others(now: dt.datetime | None = None) -> list[ServingNode]:
    """The other nodes serving now with a key file of their own, oldest announcement first."""
    now = now or timezone.now()
    key_file = _key_file()
    alive = ServingNode.objects.filter(seen_at__gte=now - STALE).exclude(name=name())
    if key_file != ENVIRONMENT:  # the same file read on this host: one copy, shared
        alive = alive.exclude(host=socket.gethostname(), key_file=key_file)
    return list(alive.order_by("seen_at", "name"))


def _seen(node: ServingNode, now: dt.datetime) -> str:
    return f"seen {int((now - node.seen_at).total_seconds())} s ago"


def status_lines(now: dt.datetime | None = None) -> list[str]:
    """``secretum check``: the nodes serving now (this one first when it serves), each with its
    key file's KEK versions, and a copy behind this node's key file named as such. Nothing when
    the key file cannot be read (its own check names what is wrong with it)."""
    now = now or timezone.now()
    try:
        current = settings.INSTANCE.read_key_versions().current
    except InstanceError:
        return []
    try:
        with transaction.atomic():
            alive = list(ServingNode.objects.filter(seen_at__gte=now - STALE).order_by("name"))
    except DatabaseError as exc:  # unreachable, or a new release whose migrations wait
        return [f"Serving nodes: unknown, the database did not tell ({exc})."]
    mine, named = name(), []
    for node in sorted(alive, key=lambda n: n.name != mine):
        held = ", ".join(map(str, sorted(node.kek_versions)))
        said = "this node" if node.name == mine else _seen(node, now)
        behind = "" if current in node.kek_versions else f"; behind: lacks KEK version {current}"
        named.append(f"{node.name} ({said}; KEK versions {held}{behind})")
    if not named:
        return [
            f"Serving nodes: none announced in the last {STALE_MINUTES} minutes (serve announces "
            "itself)."
        ]
    return [f"Serving nodes ({len(named)}): " + "; ".join(named) + "."]


class OtherNodesServe(InstanceError):
    """A rotation refused while other nodes serve with copies of the key file."""


def refuse_rotation_beside_others(what: str, now: dt.datetime | None = None) -> None:
    """Refuse (``OtherNodesServe``) a rotation of ``what`` while another node serves with a key
    file of its own; one sentence naming each and what to do."""
    now = now or timezone.now()
    serving = others(now)
    if not serving:
        return
    named = "; ".join(f"{node.name} ({_seen(node, now)})" for node in serving)
    raise OtherNodesServe(
        f"{len(serving)} other serving node(s) of this installation read a copy of the key file: "
        f"{named}. A rotation of the {what} here would leave them unable to read what it "
        "changes. Stop them (a stopped node leaves this list at once, one that died after "
        f"{STALE_MINUTES} minutes), rotate here, then give each the new key "
        "material ('secretum node export' here, 'secretum node join FILE' there) before "
        "starting it again."
    )
