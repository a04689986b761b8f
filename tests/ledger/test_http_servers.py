"""The ledger's two HTTP servers answer kept-alive connections without Nagle's wait.

Both speak HTTP/1.1 with keep-alive and write a response's headers and body
in two writes; with Nagle's algorithm on, the body waits for the client's
delayed ACK (about 40 ms on Linux) on every call after a connection's first.
web3's provider keeps its connection alive, so each JSON-RPC call through the
county chain node's front took ~45 ms instead of ~1 ms, four calls per
anchored head (``python -m experiments.bench.standing_query`` shows the
difference per question).
"""

from __future__ import annotations

import pytest

from ledger import _node_front, witness_http


@pytest.mark.parametrize(
    "handler", [_node_front._Handler, witness_http._Handler], ids=["node", "witness"]
)
def test_kept_alive_responses_are_sent_without_nagles_delay(handler: type) -> None:
    assert handler.protocol_version == "HTTP/1.1"
    assert handler.disable_nagle_algorithm is True
