"""Gas per ballot: blind RSA credentials (before) against ring credentials (after).

Run ``python -m experiments.bench.eligibility`` (``make anvil`` first for the
anvil column). Everything is measured in one run, on one freshly deployed
Consultation contract per backend, through the product's own path:

- **before** — blind RSA credentials (RFC 9474): the registrar records each
  credential against the resident's signed request and blind-signs it; the
  commit carries the RSA-2048 credential, which the contract verifies with the
  modexp precompile;
- **after** — ring credentials: the registrar records each resident's ballot
  key against their signed request; the commit carries an LSAG ring signature
  by ``k`` recorded keys and its key image, which the contract publishes
  (shape checked, signature left to the re-tally), for ``k`` in ``--rings``.

Per ballot = record + commit + reveal, the mean of ``--ballots`` ballots each.
Then the whole public re-tally of each consultation (wall and CPU), and the
re-tally's cost of one ballot's ring signature (CPU, median of the ballots
cast), which grows with ``k`` like the gas does: the anonymity set of a ballot
is its ring. ``--ballots 1000 --rings 16 --backend anvil`` times the re-tally
at a larger scale.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING

from experiments.bench._chains import chain_on
from ledger.chain import find_anvil
from ledger.chain_roles import Roles
from ledger.records import Role
from ledger.voting import resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting.consultation import ConsultationContract
from ledger.voting.registrar import Registrar, generate_credential_key
from ledger.voting.resident import RollKey
from ledger.voting.ring_ballot import registered_keys, verify_ballot
from ledger.voting.roll import Roll
from ledger.voting.tally import retally

if TYPE_CHECKING:
    from collections.abc import Sequence

    from Crypto.PublicKey.RSA import RsaKey
    from eth_account.signers.local import LocalAccount

    from ledger.chain import Chain
    from ledger.voting.consultation import ConsultationInfo

_HOUR = 3_600


def _gas(chain: Chain, transaction_hash: bytes) -> int:
    # Just mined, so at the head: py-evm finds it without scanning history.
    receipt = chain.w3.eth.get_transaction_receipt(transaction_hash)  # type: ignore[arg-type]
    return int(receipt["gasUsed"])


def _open(registrar: Registrar, chain: Chain, ring_size: int) -> ConsultationInfo:
    now = latest_timestamp(chain)
    return registrar.open(
        question="Benchmark: repave the square?",
        options=("yes", "no", "later"),
        ring_size=ring_size,
        commit_start=now + _HOUR,
        commit_end=now + 2 * _HOUR,
        reveal_end=now + 3 * _HOUR,
    )


def _consultation(
    chain: Chain,
    contract: ConsultationContract,
    registrar: Registrar,
    roll_keys: dict[str, RollKey],
    *,
    ring_size: int,
    voters: int,
    relayer: LocalAccount,
) -> dict[str, float]:
    """One consultation: mean gas of record, commit and reveal; re-tally ms a ballot."""
    info = _open(registrar, chain, ring_size)
    recorded = max(ring_size, voters)
    gas: dict[str, list[int]] = {"record": [], "commit": [], "reveal": []}
    wallets = []
    for name in list(roll_keys)[:recorded]:
        if ring_size:
            wallet, key_request = resident.request_ballot_key(info, roll_keys[name])
            issued = registrar.record(info, name, key_request)
        else:
            wallet, request = resident.request_credential(info, roll_keys[name])
            issued = registrar.issue(info, name, request)
            wallet = resident.accept_credential(wallet, info, issued.blind_signature)
        gas["record"].append(_gas(chain, issued.transaction_hash))
        wallets.append(wallet)
    advance_to(chain, info.commit_start)
    cast = []
    for i, wallet in enumerate(wallets[:voters]):
        committed, receipt = resident.cast_ballot(
            contract, wallet, info, i % 3, relayer=relayer
        )
        gas["commit"].append(_gas(chain, receipt.transaction_hash))
        cast.append(committed)
    advance_to(chain, info.commit_end)
    for wallet in cast:
        _wallet, mined = resident.reveal_ballot(contract, wallet, relayer=relayer)
        gas["reveal"].append(int(mined["gasUsed"]))
    result = {kind: statistics.fmean(values) for kind, values in gas.items()}
    result["ballot"] = result["record"] + result["commit"] + result["reveal"]
    wall, cpu = time.perf_counter(), time.process_time()
    recount = retally(contract, info.consultation_id)
    result["retally_wall_s"] = time.perf_counter() - wall
    result["retally_cpu_s"] = time.process_time() - cpu
    if not recount.matches:
        raise RuntimeError(f"the re-tally disagrees: {recount.problems}")
    if ring_size:
        events = contract.events(info.consultation_id)
        keys = registered_keys(events.issued)
        times = []
        for event in events.committed:
            start = time.process_time()
            problem = verify_ballot(info.scope, keys, event)
            times.append(time.process_time() - start)
            if problem is not None:
                raise RuntimeError(f"a resident's ballot does not verify: {problem}")
        result["retally_ms"] = 1_000 * statistics.median(times)
    return result


def measure(
    backend: str, rings: Sequence[int], voters: int, key: RsaKey
) -> dict[int, dict[str, float]]:
    """Per ring size (0: blind RSA), the consultation's figures on ``backend``."""
    roll_keys = {f"r{i}": RollKey.generate() for i in range(max(*rings, voters))}
    roll = Roll.build((name, k.address) for name, k in roll_keys.items())
    with chain_on(backend) as chain:
        admin, registrar_account, relayer = chain.accounts[:3]
        roles = Roles.deploy(chain, admin=admin)
        roles.grant(registrar_account.address, Role.REGISTRAR, sender=admin)
        contract = ConsultationContract.deploy(chain, roles, sender=admin)
        results = {}
        for ring_size in (0, *rings):
            registrar = Registrar(
                contract,
                account=registrar_account,
                roll=roll,
                key=None if ring_size else key,
            )
            results[ring_size] = _consultation(
                chain,
                contract,
                registrar,
                roll_keys,
                ring_size=ring_size,
                voters=voters,
                relayer=relayer,
            )
        return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rings", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--ballots", type=int, default=6, help="ballots averaged")
    parser.add_argument(
        "--backend", action="append", choices=("embedded", "anvil"), default=None
    )
    args = parser.parse_args(argv)
    backends = args.backend or (["embedded", "anvil"] if find_anvil() else ["embedded"])
    key = generate_credential_key()
    by_backend = {b: measure(b, args.rings, args.ballots, key) for b in backends}

    names = {"embedded": "py-evm (Prague)", "anvil": "anvil (Osaka)"}
    print(
        f"gas, mean of {args.ballots} ballots each; per ballot = record + commit + reveal"
    )
    header = f"{'credentials':<26}" + "".join(
        f"{names[b] + ' ' + part:>28}"
        for b in backends
        for part in ("commit", "per ballot")
    )
    print(header)
    for ring_size in (0, *args.rings):
        label = (
            "blind RSA (before)" if ring_size == 0 else f"ring of {ring_size} (after)"
        )
        row = f"{label:<26}"
        for b in backends:
            figures = by_backend[b][ring_size]
            before = by_backend[b][0]["ballot"]
            change = (figures["ballot"] - before) / before
            row += f"{figures['commit']:>28,.0f}"
            row += f"{figures['ballot']:>20,.0f} ({change:+.1%})"
        print(row)
    for b in backends:
        of = by_backend[b]
        print(
            f"{names[b]}: record {of[0]['record']:,.0f} (blind RSA), "
            + ", ".join(f"{of[k]['record']:,.0f} (ring of {k})" for k in args.rings)
            + f"; reveal {of[0]['reveal']:,.0f}"
        )
    for b in backends:
        of = by_backend[b]
        print(
            f"{names[b]}: the whole public re-tally of {args.ballots} ballots "
            "(events, requests, credentials or ring signatures, reveals): "
            + ", ".join(
                f"{'blind RSA' if k == 0 else f'ring of {k}'} "
                f"{of[k]['retally_wall_s']:.2f} s wall / {of[k]['retally_cpu_s']:.2f} s CPU"
                for k in (0, *args.rings)
            )
        )
    first = by_backend[backends[0]]
    print(
        "re-tally, CPU per ballot's ring signature: "
        + ", ".join(f"ring of {k}: {first[k]['retally_ms']:.2f} ms" for k in args.rings)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
