"""Getting a department's signed heads to the chain from another machine.

A department signs its heads but holds no chain authority and need not
reach the chain at all. Where it runs on its own machine, its node config
names the county's audit log service (``log-service='host:port'``, and
``log-service-ca``, or ``log-service-cert``/``log-service-key`` for mutual
TLS); after every commit the department pushes what the county's replica
of its log lacks: the records, the signed heads, the checkpoints. The
service checks each (canonical records of this actor, heads whose
signature recovers to it and whose root is the replica's at that size),
and the coordinator's relay anchors the replica's heads. A push that fails
is logged and retried at the next commit: the department's own log is
durable meanwhile, and the push always sends everything missing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fedgov.errors import FedgovError
from ledger.client import LogClient
from ledger.store import LogStore
from ledger.transport import ClientTLS

__all__ = ["push_log", "push_to_county"]

_log = logging.getLogger(__name__)


def push_log(client: LogClient, store: LogStore) -> int:
    """Push what the service's replica of ``store`` lacks; the records sent."""
    info = client.log_info(store.log_id)
    sent = 0
    if info.size < store.size:
        records = store.encoded_records(info.size, store.size)
        client.append_encoded(store.log_id, records)
        sent = len(records)
    remote_heads = {
        (signed.head.tree_size, signed.head.timestamp)
        for signed, _ in client.signed_head_entries(store.log_id)
    }
    missing = [
        entry
        for entry in store.signed_head_entries()
        if (entry[0].head.tree_size, entry[0].head.timestamp) not in remote_heads
    ]
    if missing:
        client.add_signed_heads(store.log_id, missing)
    remote_notes = set(client.checkpoints(store.log_id))
    notes = [note for note in store.checkpoints() if note not in remote_notes]
    if notes:
        client.add_checkpoints(store.log_id, notes)
    return sent


def push_to_county(node_config: Mapping[str, object], store: LogStore) -> None:
    """Push ``store`` to the log service the node config names (if it names one)."""
    target = node_config.get("log-service")
    if not target:
        return
    ca = node_config.get("log-service-ca")
    cert = node_config.get("log-service-cert")
    key = node_config.get("log-service-key")
    try:
        tls = (
            ClientTLS.from_files(
                str(ca),
                str(cert) if cert else None,
                str(key) if key else None,
            )
            if ca
            else None
        )
        with LogClient(str(target), tls=tls, insecure=tls is None) as client:
            sent = push_log(client, store)
    except FedgovError as e:
        _log.warning(
            "pushing %s to the county's log service %s failed (retried at the next "
            "commit): %s",
            store.path.name,
            target,
            e,
        )
        return
    _log.debug("pushed %d records of %s to %s", sent, store.path.name, target)
