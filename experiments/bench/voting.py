"""Community votes: ballots per second, gas per ballot, the re-tally at 10,000 ballots.

Run ``python -m experiments.bench.voting`` (``--help`` for sizes). Three parts,
measured side by side in one run:

1. **End to end**, on each backend (embedded py-evm; anvil when installed):
   ``--ballots`` residents each go through the product's own path —
   request a credential (blind, signed by the resident's roll key), the
   registrar records it (the contract checks the request) and blind-signs it,
   the resident unblinds and verifies, commits through a relayer, reveals —
   every transaction sent and waited for one at a time. Prints ballots/s and
   the mean gas of each transaction kind. py-evm prices the EVM as Prague;
   anvil 1.7 runs Osaka, whose EIP-7883 makes the modexp precompile (the
   on-chain RSA check) about six times dearer.
2. **Roll depth**: the gas of recording a credential against rolls of 2 and
   65,536 residents; the difference per level of the RFC 9162 (SHA-256
   precompile) proof, next to what a keccak-256 node would cost.
3. **Scale** (anvil): ``--retally-ballots`` ballots (default 10,000) cast
   with pre-signed raw transactions, ``--block-txs`` per block (automine off,
   ``evm_mine``), then the auditor's public re-tally from events alone, timed
   (target: under 10 s; wall and CPU time, since the machine may be shared)
   and compared with the contract — once with blind RSA credentials and once
   with ring credentials, rings of ``--retally-ring-size`` recorded keys
   (default 16), side by side: the ring re-tally verifies every ballot's LSAG
   signature (``k`` members each) where the blind RSA one verifies one RSA
   signature.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3.types import RPCEndpoint

from experiments.bench._chains import chain_on
from ledger.chain import Chain, find_anvil
from ledger.chain_roles import Roles
from ledger.records import Role
from ledger.voting import blind_rsa, resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting.ballot import commitment, fresh_salt, sign_authorization
from ledger.voting.consultation import GAS, ConsultationContract
from ledger.voting.registrar import Registrar, generate_credential_key
from ledger.voting.resident import RollKey
from ledger.voting.ring import SCALAR_BYTES, BallotKeyPair
from ledger.voting.ring_ballot import choose_ring, registered_keys, sign_ballot
from ledger.voting.roll import Roll
from ledger.voting.tally import retally

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from Crypto.PublicKey.RSA import RsaKey
    from eth_account.signers.local import LocalAccount
    from web3 import HTTPProvider

    from ledger.voting.consultation import ConsultationInfo

_HOUR = 3_600
# keccak256 of a 64-byte node: 30 + 6 per word; the interior-node prefix makes
# SHA-256 hash 65 bytes (3 words): 60 + 12 per word, plus a STATICCALL (100).
_KECCAK_NODE_GAS = 30 + 6 * 2
_SEND_BATCH = 200


def _roll_of(size: int) -> tuple[Roll, dict[str, RollKey]]:
    """A roll of residents ``r0``, ``r1``... and each one's roll key."""
    keys = {f"r{i}": RollKey.generate() for i in range(size)}
    return Roll.build((name, key.address) for name, key in keys.items()), keys


@dataclass
class _Setup:
    chain: Chain
    contract: ConsultationContract
    registrar: Registrar
    registrar_account: LocalAccount
    relayers: tuple[LocalAccount, ...]


def _set_up(chain: Chain, roll: Roll, key: RsaKey | None) -> _Setup:
    """Contracts and a registrar: blind RSA credentials under ``key``, or ring ones."""
    admin, registrar_account, *relayers = chain.accounts
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(registrar_account.address, Role.REGISTRAR, sender=admin)
    contract = ConsultationContract.deploy(chain, roles, sender=admin)
    registrar = Registrar(contract, account=registrar_account, roll=roll, key=key)
    return _Setup(chain, contract, registrar, registrar_account, tuple(relayers))


def _open(
    setup: _Setup, *, issuance_s: int = _HOUR, ring_size: int = 0
) -> ConsultationInfo:
    now = latest_timestamp(setup.chain)
    return setup.registrar.open(
        question="Benchmark: repave the square?",
        options=("yes", "no", "later"),
        ring_size=ring_size,
        commit_start=now + issuance_s,
        commit_end=now + issuance_s + 24 * _HOUR,
        reveal_end=now + issuance_s + 48 * _HOUR,
    )


def end_to_end(backend: str, ballots: int, key: RsaKey) -> dict[str, float]:
    """Ballots/s through the product's path, and mean gas per transaction kind."""
    roll, roll_keys = _roll_of(ballots)
    with chain_on(backend) as chain:
        setup = _set_up(chain, roll, key)
        info = _open(setup, issuance_s=24 * _HOUR)
        relayer = setup.relayers[0]
        gas: dict[str, list[int]] = {"issuance": [], "commit": [], "reveal": []}
        wallets = []
        start = time.perf_counter()
        for name, roll_key in roll_keys.items():
            wallet, request = resident.request_credential(info, roll_key)
            issued = setup.registrar.issue(info, name, request)
            wallets.append(
                resident.accept_credential(wallet, info, issued.blind_signature)
            )
            gas["issuance"].append(_gas(chain, issued.transaction_hash))
        credential_s = time.perf_counter() - start
        advance_to(chain, info.commit_start)
        start = time.perf_counter()
        for i, wallet in enumerate(wallets):
            wallets[i], receipt = resident.cast_ballot(
                setup.contract, wallet, info, i % 3, relayer=relayer
            )
            gas["commit"].append(_gas(chain, receipt.transaction_hash))
        commit_s = time.perf_counter() - start
        advance_to(chain, info.commit_end)
        start = time.perf_counter()
        for wallet in wallets:
            _wallet, mined = resident.reveal_ballot(
                setup.contract, wallet, relayer=relayer
            )
            gas["reveal"].append(int(mined["gasUsed"]))
        reveal_s = time.perf_counter() - start
        total = credential_s + commit_s + reveal_s
        return {
            "ballots_per_s": ballots / total,
            "credential_s": credential_s / ballots,
            "commit_s": commit_s / ballots,
            "reveal_s": reveal_s / ballots,
            **{f"gas_{kind}": sum(v) / len(v) for kind, v in gas.items()},
        }


def _gas(chain: Chain, transaction_hash: bytes) -> int:
    # Just mined, so at the head: py-evm finds it without scanning history.
    return int(chain.w3.eth.get_transaction_receipt(transaction_hash)["gasUsed"])  # type: ignore[arg-type]


def roll_depth_gas(key: RsaKey) -> dict[str, float]:
    """Gas of one credential record for a roll of 2 and one of 65,536 residents."""
    results: dict[str, float] = {}
    with chain_on("embedded") as chain:
        for size in (2, 65_536):
            roll, roll_keys = _roll_of(size)
            setup = _set_up(chain, roll, key)
            info = _open(setup)
            # Two records: the first pays for the counter's fresh storage slot.
            for name in ("r0", "r1"):
                _wallet, request = resident.request_credential(info, roll_keys[name])
                issued = setup.registrar.issue(info, name, request)
            results[f"levels_{size}"] = len(roll.proof("r1").path)
            results[f"gas_{size}"] = _gas(chain, issued.transaction_hash)
    levels = results["levels_65536"] - results["levels_2"]
    results["gas_per_level"] = (results["gas_65536"] - results["gas_2"]) / levels
    return results


class _Calldata:
    """Call data straight from eth_abi: web3's ``encode_abi`` takes ~10 ms a call."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._functions = {}
        for item in abi:
            if item.get("type") == "function":
                types = [i["type"] for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._functions[str(item["name"])] = (selector, types)

    def encode(self, name: str, *, args: list[Any]) -> str:
        selector, types = self._functions[name]
        return "0x" + (selector + encode(types, args)).hex()


class _RawSender:
    """Pre-signs transactions of one account with explicit nonces."""

    def __init__(self, chain: Chain, account: LocalAccount) -> None:
        self._chain = chain
        self._account = account
        self._nonce = int(
            chain.w3.eth.get_transaction_count(account.address, "pending")
        )

    def sign(self, to: str, data: str, gas: int) -> bytes:
        transaction: dict[str, Any] = {
            "to": to,
            "data": data,
            "gas": gas,
            "nonce": self._nonce,
            "chainId": self._chain.chain_id,
            "maxFeePerGas": 50 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "value": 0,
        }
        self._nonce += 1
        return bytes(self._account.sign_transaction(transaction).raw_transaction)


def _rpc(chain: Chain, method: str, params: list[Any]) -> Any:
    response = chain.w3.provider.make_request(RPCEndpoint(method), params)
    if "error" in response:
        raise RuntimeError(f"{method}: {response['error']}")
    return response.get("result")


def _mine(chain: Chain, raw: list[bytes], block_txs: int) -> None:
    """Send ``raw`` and mine it, ``block_txs`` transactions per block.

    Transactions go in JSON-RPC batches of :data:`_SEND_BATCH` (one HTTP round
    trip per transaction would cap the rate at ~250 tx/s; anvil refuses
    requests of a megabyte or so).
    """
    provider = cast("HTTPProvider", chain.w3.provider)
    for block_start in range(0, len(raw), block_txs):
        block = raw[block_start : block_start + block_txs]
        for start in range(0, len(block), _SEND_BATCH):
            responses = provider.make_batch_request(
                [
                    (RPCEndpoint("eth_sendRawTransaction"), ["0x" + tx.hex()])
                    for tx in block[start : start + _SEND_BATCH]
                ]
            )
            if not isinstance(responses, list):
                raise RuntimeError(f"batch refused: {responses}")
            errors = [r["error"] for r in responses if "error" in r]
            if errors:
                raise RuntimeError(f"{len(errors)} transactions refused: {errors[0]}")
        _rpc(chain, "evm_mine", [])


def _rsa_records(
    setup: _Setup,
    info: ConsultationInfo,
    roll: Roll,
    roll_keys: Mapping[str, RollKey],
    key: RsaKey,
) -> tuple[list[str], list[resident.Wallet]]:
    """Each resident's blind RSA credential: the record's call data, the wallet."""
    encode = _Calldata(setup.contract.contract.abi).encode
    calls, wallets = [], []
    for name, roll_key in roll_keys.items():
        wallet, request = resident.request_credential(info, roll_key)
        proof = roll.proof(name)
        calls.append(
            encode(
                "record_issuance",
                args=[
                    info.consultation_id,
                    proof.index,
                    proof.entry,
                    proof.roll_key,
                    list(proof.path),
                    keccak(request.blinded_message),
                    request.signature,
                ],
            )
        )
        blind_signature = blind_rsa.blind_sign(key, wallet.blinded_message)
        wallets.append(resident.accept_credential(wallet, info, blind_signature))
    return calls, wallets


def _ring_records(
    setup: _Setup,
    info: ConsultationInfo,
    roll: Roll,
    roll_keys: Mapping[str, RollKey],
) -> tuple[list[str], list[resident.Wallet]]:
    """Each resident's ballot key: the record's call data, the wallet."""
    encode = _Calldata(setup.contract.contract.abi).encode
    calls, wallets = [], []
    for name, roll_key in roll_keys.items():
        wallet, request = resident.request_ballot_key(info, roll_key)
        proof = roll.proof(name)
        calls.append(
            encode(
                "register_ballot_key",
                args=[
                    info.consultation_id,
                    proof.index,
                    proof.entry,
                    proof.roll_key,
                    list(proof.path),
                    request.ballot_key,
                    request.signature,
                ],
            )
        )
        wallets.append(wallet)
    return calls, wallets


def _commit_call(
    setup: _Setup,
    info: ConsultationInfo,
    wallet: resident.Wallet,
    ballot: bytes,
    keys: Sequence[bytes],
) -> str:
    """A commit's call data: the ring-signed ballot, or the blind RSA one."""
    encode = _Calldata(setup.contract.contract.abi).encode
    scope = info.scope
    authorization = sign_authorization(scope, wallet.account, ballot)
    if wallet.ballot_secret is None:
        return encode(
            "commit",
            args=[
                scope.consultation_id,
                wallet.voting_address,
                ballot,
                wallet.message_prefix,
                wallet.credential,
                info.modulus,
                authorization,
            ],
        )
    pair = BallotKeyPair(wallet.ballot_secret)
    members = choose_ring(keys, pair.public, info.ring_for(len(keys)))
    signature = sign_ballot(scope, keys, members, pair, wallet.voting_address)
    return encode(
        "commit_ring",
        args=[
            scope.consultation_id,
            wallet.voting_address,
            ballot,
            signature.key_image,
            list(members),
            signature.challenge.to_bytes(SCALAR_BYTES, "big"),
            [r.to_bytes(SCALAR_BYTES, "big") for r in signature.responses],
            authorization,
        ],
    )


def at_scale(
    ballots: int, block_txs: int, key: RsaKey, *, ring_size: int = 0
) -> dict[str, float]:
    """Cast ``ballots`` on anvil in big blocks, then time the public re-tally.

    ``ring_size`` 0: blind RSA credentials under ``key``; else ring credentials.
    """
    roll, roll_keys = _roll_of(ballots)
    with chain_on("anvil") as chain:
        setup = _set_up(chain, roll, None if ring_size else key)
        info = _open(setup, ring_size=ring_size)
        _rpc(chain, "evm_setAutomine", [False])
        _rpc(chain, "evm_setBlockGasLimit", [hex(1_000_000_000)])
        address = setup.contract.address
        encode = _Calldata(setup.contract.contract.abi).encode
        registrar = _RawSender(chain, setup.registrar_account)
        relayers = [_RawSender(chain, account) for account in setup.relayers]
        scope = info.scope
        record_gas = GAS["register_ballot_key" if ring_size else "record_issuance"]

        start = time.perf_counter()
        if ring_size:
            calls, wallets = _ring_records(setup, info, roll, roll_keys)
        else:
            calls, wallets = _rsa_records(setup, info, roll, roll_keys, key)
        raw = [registrar.sign(address, data, record_gas) for data in calls]
        credential_s = time.perf_counter() - start
        start = time.perf_counter()
        _mine(chain, raw, block_txs)
        credential_chain_s = time.perf_counter() - start
        advance_to(chain, info.commit_start)
        keys: tuple[bytes, ...] = ()
        if ring_size:
            keys = registered_keys(setup.contract.events(scope.consultation_id).issued)

        start = time.perf_counter()
        raw, reveals = [], []
        commit_gas = GAS["commit_ring" if ring_size else "commit"]
        for i, wallet in enumerate(wallets):
            choice, salt = i % 3, fresh_salt()
            ballot = commitment(scope, wallet.voting_address, choice, salt)
            data = _commit_call(setup, info, wallet, ballot, keys)
            raw.append(relayers[i % len(relayers)].sign(address, data, commit_gas))
            reveals.append(
                encode(
                    "reveal",
                    args=[scope.consultation_id, wallet.voting_address, choice, salt],
                )
            )
        commit_sign_s = time.perf_counter() - start
        start = time.perf_counter()
        _mine(chain, raw, block_txs)
        commit_chain_s = time.perf_counter() - start
        advance_to(chain, info.commit_end)

        start = time.perf_counter()
        raw = [
            relayers[i % len(relayers)].sign(address, data, GAS["reveal"])
            for i, data in enumerate(reveals)
        ]
        reveal_sign_s = time.perf_counter() - start
        start = time.perf_counter()
        _mine(chain, raw, block_txs)
        reveal_chain_s = time.perf_counter() - start

        state = setup.contract.state(scope.consultation_id)
        if (state.issued, state.committed, state.revealed) != (ballots,) * 3:
            raise RuntimeError(f"not every ballot went through: {state}")
        start = time.perf_counter()
        events = setup.contract.events(scope.consultation_id)
        fetch_s = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        audit = retally(setup.contract, scope.consultation_id)
        retally_s = time.perf_counter() - start
        retally_cpu_s = time.process_time() - cpu
        if not audit.matches or audit.revealed != ballots:
            raise RuntimeError(f"re-tally mismatch: {audit.problems[:5]}")
        chain_s = credential_chain_s + commit_chain_s + reveal_chain_s
        python_s = credential_s + commit_sign_s + reveal_sign_s
        return {
            "ballots": ballots,
            "blocks": chain.block_number - info.created_block,
            "events": len(events.issued) + len(events.committed) + len(events.revealed),
            "python_s": python_s,
            "chain_s": chain_s,
            "tx_per_s": 3 * ballots / chain_s,
            "ballots_per_s": ballots / (python_s + chain_s),
            "fetch_s": fetch_s,
            "retally_s": retally_s,
            "retally_cpu_s": retally_cpu_s,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.voting")
    parser.add_argument("--ballots", type=int, default=30, help="end-to-end size")
    parser.add_argument("--retally-ballots", type=int, default=10_000)
    parser.add_argument("--block-txs", type=int, default=1_000)
    parser.add_argument(
        "--retally-ring-size",
        type=int,
        default=16,
        help="keys per ring in the ring-credential scale run",
    )
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args(argv)
    key = generate_credential_key()
    backends = ["embedded"] + (["anvil"] if find_anvil() else [])

    print(f"1. end to end, {args.ballots} ballots, one transaction at a time")
    print(
        f"{'backend':<10}{'ballots/s':>10}{'cred s':>9}{'commit s':>9}{'reveal s':>9}"
        f"{'gas cred':>10}{'gas commit':>11}{'gas reveal':>11}{'gas/ballot':>11}"
    )
    rates = {}
    for backend in backends:
        r = end_to_end(backend, args.ballots, key)
        rates[backend] = r["ballots_per_s"]
        per_ballot = r["gas_issuance"] + r["gas_commit"] + r["gas_reveal"]
        print(
            f"{backend:<10}{r['ballots_per_s']:>10.2f}{r['credential_s']:>9.3f}"
            f"{r['commit_s']:>9.3f}{r['reveal_s']:>9.3f}{r['gas_issuance']:>10,.0f}"
            f"{r['gas_commit']:>11,.0f}{r['gas_reveal']:>11,.0f}{per_ballot:>11,.0f}"
        )
    if "anvil" in rates:
        print(f"   anvil / embedded: {rates['anvil'] / rates['embedded']:.1f}x")

    depth = roll_depth_gas(key)
    print("2. roll proof depth (embedded)")
    print(
        f"   record gas: {depth['gas_2']:,.0f} at {depth['levels_2']:.0f} level(s), "
        f"{depth['gas_65536']:,.0f} at {depth['levels_65536']:.0f} levels: "
        f"{depth['gas_per_level']:,.0f} gas per SHA-256 level "
        f"(a keccak-256 node: ~{_KECCAK_NODE_GAS} + memory)"
    )

    if args.skip_scale or "anvil" not in backends:
        print("3. scale: skipped" + ("" if "anvil" in backends else " (no anvil)"))
        return 0
    kinds = {
        "blind RSA": 0,
        f"ring of {args.retally_ring_size}": args.retally_ring_size,
    }
    print(f"3. scale on anvil: {args.retally_ballots:,} ballots")
    scale = {}
    for kind, ring_size in kinds.items():
        s = at_scale(args.retally_ballots, args.block_txs, key, ring_size=ring_size)
        scale[kind] = s
        print(f"   {kind}: {s['blocks']:,.0f} blocks")
        print(
            f"     casting: {s['python_s']:.1f} s of Python (credentials or "
            f"ballot keys, signing), {s['chain_s']:.1f} s on chain "
            f"({s['tx_per_s']:,.0f} tx/s); {s['ballots_per_s']:,.0f} ballots/s overall"
        )
        print(
            f"     public re-tally of {s['events']:,.0f} events: {s['retally_s']:.1f} s "
            f"wall, {s['retally_cpu_s']:.1f} s CPU (fetching and decoding "
            f"{s['fetch_s']:.1f} s); target < 10 s: "
            f"{'met' if s['retally_s'] < 10 else 'MISSED'}"
        )
    rsa, ring = scale.values()
    print(
        f"   ring / blind RSA re-tally: {ring['retally_s'] / rsa['retally_s']:.1f}x "
        f"wall, {ring['retally_cpu_s'] / rsa['retally_cpu_s']:.1f}x CPU"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
