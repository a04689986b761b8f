"""fedgov's audit ledger: append-only logs, Merkle proofs, signed tree heads,
the chain and its contracts, and the vocabulary of audit records that the
actors' hooks write and the auditor reads.

- records and their fields: :mod:`ledger.records`, :mod:`ledger.record_fields`;
- one actor's log: :mod:`ledger.store`, :mod:`ledger.actor_log`,
  :mod:`ledger.keys`, :mod:`ledger.layout`, :mod:`ledger.rotation`; read from
  outside its writer: :mod:`ledger.log_files`;
- proofs and heads: :mod:`ledger.merkle`, :mod:`ledger.tree_head`,
  :mod:`ledger.export`;
- the chain: :mod:`ledger.chain`, :mod:`ledger.anchor_registry`,
  :mod:`ledger.chain_roles`, :mod:`ledger.relay`; the county's chain and
  contracts :mod:`ledger.county_ledger`; its durable chain node
  :mod:`ledger.node`;
- the log service: :mod:`ledger.service`, :mod:`ledger.client`;
- C2SP checkpoints and witnesses: :mod:`ledger.note`, :mod:`ledger.checkpoint`,
  :mod:`ledger.cosignature`, :mod:`ledger.witness`, :mod:`ledger.witness_client`,
  :mod:`ledger.witness_policy`, :mod:`ledger.note_keys`;
- community votes: :mod:`ledger.voting`.

Import the modules themselves: this package re-exports nothing, so that a
department's ClientApp, which writes its log (and may push it to the
county's log service over gRPC), never loads web3.
"""
