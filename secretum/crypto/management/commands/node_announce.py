"""`secretum node_announce --every 60`: this node serves, and its key file holds these KEK
versions (issue 17, E10, O2; ``secretum.crypto.nodes``). ``secretum serve`` runs it as one of its
periodic tasks; when serve stops it, the node withdraws, and a rotation elsewhere no longer waits
for it. A node beginning and ending to serve is an audit event each (D1, D2): where it runs, the
key file it reads and that file's KEK versions, never a key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import nodes
from secretum.crypto.models import ServingNode
from secretum.lib.periodic import add_every, run_every


class Command(BaseCommand):
    help = "Announce this serving node and its key file's versions (serve runs it every minute)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        add_every(parser, "60: every minute")

    def handle(self, *args: Any, **options: Any) -> None:
        run_every(options["every"], self._once, "node announce")
        if options["every"] > 0:  # stopped by serve: this node serves no more
            with transaction.atomic():
                gone = nodes.withdraw()
                if gone is not None:
                    _record(Action.DELETE, gone)

    def _once(self) -> None:
        with transaction.atomic():  # the first announcement and its audit event together (D1)
            node, began = nodes.announce()
            if began:
                _record(Action.CREATE, node)


def _record(action: Action, node: ServingNode) -> None:
    record_event(
        Actor.system(),
        action,
        nodes.RESOURCE,
        resource_ref=str(node.pk),
        detail={
            "node": node.name,
            "key_file": node.key_file,
            "kek_versions": ",".join(map(str, sorted(node.kek_versions))),
        },
    )
