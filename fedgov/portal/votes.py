"""Residents' pages: consultations, voting in the browser, receipts, the recount.

The ballot's secrets never reach the portal. The page's script
(``web/src/pages/vote.js``) makes the voting key and, with ring credentials
(the default), the ballot key, has the roll key sign the request that the
ballot key be recorded, and at the commit signs the ballot as one of a ring of
recorded keys (LSAG); with blind RSA credentials (older consultations) it
blinds the credential request, has the roll key sign it, and unblinds and
verifies the registrar's answer. It commits and signs the ballot; the portal
only

- hands the registrar's desk the signed request (when this portal runs the
  desk), which records the ballot key on chain (ring credentials: nothing is
  signed) or records and blind-signs the request (blind RSA), and the
  resident its answer, in the files ``fedgov vote`` uses
  (``fedgov-ballot-key-request-v1``, ``fedgov-credential-request-v2``,
  ``-response-v1``);
- relays the commit (the voting key, the commitment, the ring signature or
  the credential, and the voting key's signature: all public once on chain)
  and, in the reveal window, the reveal, paying their gas, after checking off
  chain whatever the contract would refuse and, for a ring ballot, what would
  leave it uncounted (a signature that does not verify, a key image already
  used);
- checks receipts (``fedgov vote check``) and serves the events the page
  re-tallies from (``fedgov vote tally --verify``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import anyio
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fedgov.portal import _sources as src
from fedgov.portal.inputs import (
    InputError,
    address_field,
    form_text,
    hex_field,
    int_field,
    json_body,
    upload_text,
)
from fedgov.portal.security import require_csrf

if TYPE_CHECKING:
    from starlette.requests import Request

    from fedgov.portal._context import PortalContext

__all__ = ["ConsultationNotFound", "routes"]

_MAX_ID = 2**63


class ConsultationNotFound(src.FedgovError):
    """No consultation of that number in the portal's contract."""


class _Consultations:
    """The portal's Consultation contract, with the reads its pages repeat."""

    def __init__(self, ctx: PortalContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._infos: dict[int, src.ConsultationInfo] = {}
        self._events: dict[int, tuple[int, dict[str, Any]]] = {}
        self._contracts: dict[str, src.ConsultationContract] = {}
        self._roll_keys = (
            {entry.roll_key: entry.resident for entry in ctx.registrar.roll.entries}
            if ctx.registrar is not None
            else {}
        )

    @property
    def contract(self) -> src.ConsultationContract:
        contract = self._ctx.county.consultations
        if contract is None:
            raise ConsultationNotFound(
                "this portal was started without a Consultation contract"
            )
        return contract

    def info(self, consultation_id: int) -> src.ConsultationInfo:
        if not 1 <= consultation_id <= self.contract.consultation_count:
            raise ConsultationNotFound(f"no consultation {consultation_id}")
        with self._lock:
            cached = self._infos.get(consultation_id)
        if cached is None:
            # Fixed for the consultation's whole life: read once.
            cached = self.contract.info(consultation_id)
            with self._lock:
                self._infos[consultation_id] = cached
        return cached

    def listing(self) -> list[dict[str, Any]]:
        contract = self.contract
        out = []
        for consultation_id in range(contract.consultation_count, 0, -1):
            info = self.info(consultation_id)
            out.append(
                {
                    "info": info,
                    "state": contract.state(consultation_id),
                    "phase": contract.phase(info).value,
                }
            )
        return out

    def at(self, address: str) -> src.ConsultationContract:
        """The Consultation contract a receipt names (its code is checked)."""
        with self._lock:
            found = self._contracts.get(address)
        if found is None:
            found = src.ConsultationContract.at(self._ctx.county.chain, address)
            with self._lock:
                self._contracts[address] = found
        return found

    def events(self, consultation_id: int) -> dict[str, Any]:
        """The events and counters the page's re-tally needs, as one block saw them."""
        info = self.info(consultation_id)
        contract = self.contract
        chain = self._ctx.county.chain
        for _ in range(5):
            block = chain.block_number
            with self._lock:
                cached = self._events.get(consultation_id)
            if cached is not None and cached[0] == block:
                return cached[1]
            state = contract.state(consultation_id)
            events = contract.events(consultation_id, to_block=block)
            if chain.block_number != block:
                continue  # a transaction landed meanwhile: read again, consistently
            document = _events_json(info, state, events, contract, consultation_id)
            document["block"] = block
            with self._lock:
                self._events[consultation_id] = (block, document)
            return document
        raise src.ChainError("read events", "the chain kept moving; try again")

    def resident_of(self, roll_key: str) -> str | None:
        return self._roll_keys.get(roll_key)


def _issued_json(event: src.ChainEvent, *, ring: bool) -> dict[str, Any]:
    args = event.args
    requested = (
        {"ballot_key": bytes(args["ballotKey"]).hex(), "issued": int(args["issued"])}
        if ring
        else {"blinded_message_hash": bytes(args["blindedMessageHash"]).hex()}
    )
    return {
        "roll_entry": bytes(args["rollEntry"]).hex(),
        "requester": args["requester"],
        **requested,
        "request_signature": bytes(args["requestSignature"]).hex(),
        "block": event.block_number,
    }


def _committed_json(event: src.ChainEvent, *, ring: bool) -> dict[str, Any]:
    args = event.args
    credential = (
        {
            "key_image": bytes(args["keyImage"]).hex(),
            "ring": [int(m) for m in args["ring"]],
            "challenge": bytes(args["challenge"]).hex(),
            "responses": [bytes(s).hex() for s in args["responses"]],
        }
        if ring
        else {
            "message_prefix": bytes(args["messagePrefix"]).hex(),
            "credential": bytes(args["credential"]).hex(),
        }
    )
    return {
        "voting_key": args["votingKey"],
        "commitment": bytes(args["commitment"]).hex(),
        **credential,
        "block": event.block_number,
    }


def _events_json(
    info: src.ConsultationInfo,
    state: src.ConsultationState,
    events: src.ConsultationEvents,
    contract: src.ConsultationContract,
    consultation_id: int,
) -> dict[str, Any]:
    ring = info.ring_credentials
    return {
        "scope": _scope(info.scope),
        "options": list(info.options),
        "roll_size": info.roll_size,
        "ring_size": info.ring_size,
        "modulus": info.modulus.hex(),
        "modulus_hash": contract.modulus_hash(consultation_id).hex(),
        "contract": {
            "tally": list(state.tally),
            "issued": state.issued,
            "committed": state.committed,
            "revealed": state.revealed,
        },
        "issued": [_issued_json(e, ring=ring) for e in events.issued],
        "committed": [_committed_json(e, ring=ring) for e in events.committed],
        "revealed": [
            {
                "voting_key": e.args["votingKey"],
                "choice": int(e.args["choice"]),
                "salt": bytes(e.args["salt"]).hex(),
                "block": e.block_number,
            }
            for e in events.revealed
        ],
        "finalized_tally": [int(c) for c in events.finalized[-1].args["tally"]]
        if events.finalized
        else None,
    }


def _scope(scope: src.BallotScope) -> dict[str, Any]:
    return {
        "chain_id": scope.chain_id,
        "contract": scope.contract,
        "consultation_id": scope.consultation_id,
    }


def _mined(receipt: Any) -> dict[str, Any]:
    return {
        "transaction_hash": bytes(receipt["transactionHash"]).hex(),
        "block_number": int(receipt["blockNumber"]),
    }


def routes(ctx: PortalContext) -> list[Route]:
    consultations = _Consultations(ctx)

    def consultation_id(request: Request) -> int:
        value = int(request.path_params["consultation_id"])
        if not 1 <= value < _MAX_ID:
            raise ConsultationNotFound(f"no consultation {value}")
        return value

    async def listing(request: Request) -> Response:
        found = await anyio.to_thread.run_sync(consultations.listing)
        return ctx.render(request, "consultations.html", consultations=found)

    async def detail(request: Request) -> Response:
        number = consultation_id(request)

        def read() -> dict[str, Any]:
            info = consultations.info(number)
            contract = consultations.contract
            return {
                "info": info,
                "state": contract.state(number),
                "phase": contract.phase(info).value,
                "now": contract.chain.block_timestamp(contract.chain.block_number),
            }

        values = await anyio.to_thread.run_sync(read)
        return ctx.render(request, "consultation.html", **values)

    async def vote_page(request: Request) -> Response:
        number = consultation_id(request)
        info = await anyio.to_thread.run_sync(consultations.info, number)
        return ctx.render(
            request,
            "vote.html",
            info=info,
            relay=ctx.relayer is not None,
            desk=ctx.registrar is not None,
        )

    async def api_info(request: Request) -> Response:
        number = consultation_id(request)

        def read() -> dict[str, Any]:
            info = consultations.info(number)
            contract = consultations.contract
            chain = contract.chain
            return {
                "scope": _scope(info.scope),
                "question": info.question or info.question_uri,
                "options": list(info.options),
                "roll_size": info.roll_size,
                "ring_size": info.ring_size,
                "modulus": info.modulus.hex(),
                "commit_start": info.commit_start,
                "commit_end": info.commit_end,
                "reveal_end": info.reveal_end,
                "phase": contract.phase(info).value,
                "block_time": chain.block_timestamp(chain.block_number),
                "relay": ctx.relayer is not None,
                "desk": ctx.registrar is not None,
            }

        return JSONResponse(await anyio.to_thread.run_sync(read))

    async def api_events(request: Request) -> Response:
        number = consultation_id(request)
        return JSONResponse(
            await anyio.to_thread.run_sync(consultations.events, number)
        )

    async def api_issued(request: Request) -> Response:
        number = consultation_id(request)
        entry = hex_field({"entry": request.path_params["entry"]}, "entry", 32)
        issued = await anyio.to_thread.run_sync(
            consultations.contract.credential_issued, number, entry
        )
        return JSONResponse({"issued": issued})

    async def api_credential(request: Request) -> Response:
        number = consultation_id(request)
        require_csrf(request, None)
        registrar = ctx.registrar
        if registrar is None:
            raise InputError(
                "request",
                "this portal runs no registrar's desk: download the request and "
                "hand it to the registrar (fedgov vote issue)",
            )
        request_doc = src.parse_request(await json_body(request))

        def issue() -> dict[str, Any]:
            info = consultations.info(number)
            if info.ring_credentials != isinstance(request_doc, src.BallotKeyRequest):
                raise InputError(
                    "request",
                    f"consultation {number} takes "
                    + (
                        "ballot-key requests (ring credentials)"
                        if info.ring_credentials
                        else "blinded credential requests (blind RSA)"
                    ),
                )
            if not info.ring_credentials and registrar.public_key is None:
                raise InputError(
                    "request",
                    f"consultation {number} uses blind RSA credentials and this "
                    "desk holds no credential key: hand the request to the "
                    "registrar (fedgov vote issue)",
                )
            if request_doc.scope != info.scope:
                raise InputError("request", f"is not for consultation {number}")
            resident = consultations.resident_of(request_doc.roll_key)
            if resident is None:
                raise InputError(
                    "roll_key", f"{request_doc.roll_key} is on no entry of the roll"
                )
            if request_doc.signer != request_doc.roll_key:
                raise InputError(
                    "signature", f"is not roll key {request_doc.roll_key}'s signature"
                )
            # Checked before paying for a refused transaction. Recorded
            # requests are public, so the answer must not name the resident.
            entry = registrar.roll.entry(resident).commitment
            if consultations.contract.credential_issued(number, entry):
                raise InputError(
                    "request", "this roll key's resident already holds a credential"
                )
            if isinstance(request_doc, src.BallotKeyRequest):
                # Checked before paying for a refused transaction, as the contract does.
                if not src.is_point(request_doc.ballot_key):
                    raise InputError(
                        "ballot_key", "is not a compressed point of secp256k1"
                    )
                issued = registrar.record(info, resident, request_doc)
            else:
                issued = registrar.issue(info, resident, request_doc)
            return src.response_document(issued)

        return JSONResponse(await anyio.to_thread.run_sync(issue))

    async def api_commit(request: Request) -> Response:
        number = consultation_id(request)
        require_csrf(request, None)
        relayer = _relayer(ctx)
        body = await json_body(request)
        voting_key = address_field(body, "voting_key")
        ballot = hex_field(body, "commitment", 32)
        authorization = hex_field(body, "authorization", 65)
        ring_ballot = "ring" in body
        if ring_ballot:
            members = _ring_field(body)
            signature = _ring_signature(body, len(members))
        else:
            prefix = hex_field(body, "message_prefix", 32)
            credential = hex_field(body, "credential", 256)

        def commit() -> dict[str, Any]:
            info = consultations.info(number)
            contract = consultations.contract
            _require_phase(contract, info, src.Phase.COMMIT)
            if ring_ballot != info.ring_credentials:
                raise InputError(
                    "ballot",
                    f"consultation {number} takes "
                    + (
                        "ring-signed ballots"
                        if info.ring_credentials
                        else "ballots with blind RSA credentials"
                    ),
                )
            if ring_ballot:
                problem = src.ring_ballot_problem(
                    contract,
                    info,
                    voting_key=voting_key,
                    ballot_commitment=ballot,
                    ring=members,
                    signature=signature,
                    authorization=authorization,
                )
            else:
                problem = src.ballot_problem(
                    info,
                    voting_key=voting_key,
                    ballot_commitment=ballot,
                    message_prefix=prefix,
                    credential=credential,
                    authorization=authorization,
                )
            if problem is None and contract.ballot(number, voting_key).commitment:
                problem = "this voting key has already cast a ballot"
            if problem is not None:
                raise InputError("ballot", problem)
            if ring_ballot:
                mined = contract.commit_ring(
                    number,
                    voting_key=voting_key,
                    commitment=ballot,
                    ring=members,
                    signature=signature,
                    authorization=authorization,
                    sender=relayer,
                )
            else:
                mined = contract.commit(
                    number,
                    voting_key=voting_key,
                    commitment=ballot,
                    message_prefix=prefix,
                    credential=credential,
                    modulus=info.modulus,
                    authorization=authorization,
                    sender=relayer,
                )
            return _mined(mined)

        return JSONResponse(await anyio.to_thread.run_sync(commit))

    async def api_reveal(request: Request) -> Response:
        number = consultation_id(request)
        require_csrf(request, None)
        relayer = _relayer(ctx)
        body = await json_body(request)
        voting_key = address_field(body, "voting_key")
        choice = int_field(body, "choice", 0, 15)
        salt = hex_field(body, "salt", 32)

        def reveal() -> dict[str, Any]:
            info = consultations.info(number)
            contract = consultations.contract
            _require_phase(contract, info, src.Phase.REVEAL)
            problem = src.reveal_problem(
                contract, info, voting_key=voting_key, choice=choice, salt=salt
            )
            if problem is not None:
                raise InputError("reveal", problem)
            mined = contract.reveal(
                number, voting_key=voting_key, choice=choice, salt=salt, sender=relayer
            )
            return _mined(mined)

        return JSONResponse(await anyio.to_thread.run_sync(reveal))

    async def receipt_form(request: Request) -> Response:
        return ctx.render(request, "receipt.html", result=None, error=None)

    async def receipt_check(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=4, max_part_size=16 * 1024)
        require_csrf(request, form_text(form, "csrf_token"))
        text = await upload_text(form, "receipt_file") or form_text(
            form, "receipt", limit=16 * 1024
        )
        if not text.strip():
            raise InputError("receipt", "paste a receipt or choose its file")
        receipt = src.parse_receipt(text)

        def check() -> src.ReceiptCheck:
            try:
                contract = consultations.at(receipt.scope.contract)
            except src.ChainUnavailableError:
                raise
            except src.ChainError as e:
                raise InputError(
                    "receipt", f"names {receipt.scope.contract}: {e}"
                ) from None
            return src.check_receipt(contract, receipt)

        result = await anyio.to_thread.run_sync(check)
        return ctx.render(
            request,
            "receipt.html",
            receipt=receipt,
            result=result,
            error=None,
            status_code=200 if result.ok else 422,
        )

    return [
        Route("/consultations", listing),
        Route("/consultations/{consultation_id:int}", detail),
        Route("/consultations/{consultation_id:int}/vote", vote_page),
        Route("/receipts", receipt_form),
        Route("/receipts", receipt_check, methods=["POST"]),
        Route("/api/consultations/{consultation_id:int}", api_info),
        Route("/api/consultations/{consultation_id:int}/events", api_events),
        Route(
            "/api/consultations/{consultation_id:int}/entries/{entry:str}", api_issued
        ),
        Route(
            "/api/consultations/{consultation_id:int}/credentials",
            api_credential,
            methods=["POST"],
        ),
        Route(
            "/api/consultations/{consultation_id:int}/ballots",
            api_commit,
            methods=["POST"],
        ),
        Route(
            "/api/consultations/{consultation_id:int}/reveals",
            api_reveal,
            methods=["POST"],
        ),
    ]


def _ring_field(body: dict[str, Any]) -> tuple[int, ...]:
    members = body.get("ring")
    if not isinstance(members, list) or not 1 <= len(members) <= src.MAX_RING:
        raise InputError("ring", f"must be a list of 1 to {src.MAX_RING} key numbers")
    return tuple(int_field({"ring": m}, "ring", 0, _MAX_ID) for m in members)


def _ring_signature(body: dict[str, Any], size: int) -> src.RingSignature:
    responses = body.get("responses")
    if not isinstance(responses, list) or len(responses) != size:
        raise InputError("responses", f"must be a list of {size}, one per ring member")
    try:
        return src.RingSignature(
            key_image=hex_field(body, "key_image", src.POINT_BYTES),
            challenge=int.from_bytes(hex_field(body, "challenge", 32), "big"),
            responses=tuple(
                int.from_bytes(hex_field({"responses": s}, "responses", 32), "big")
                for s in responses
            ),
        )
    except src.VotingError as e:
        raise InputError("key_image", str(e)) from None


def _relayer(ctx: PortalContext) -> Any:
    if ctx.relayer is None:
        raise InputError(
            "ballot",
            "this portal relays no ballot: cast it with `fedgov vote commit` and "
            "any relayer",
        )
    return ctx.relayer


def _require_phase(
    contract: src.ConsultationContract, info: src.ConsultationInfo, wanted: src.Phase
) -> None:
    phase = contract.phase(info)
    if phase is not wanted:
        window = "commit" if wanted is src.Phase.COMMIT else "reveal"
        raise InputError(
            "phase",
            f"the {window} window is not open (the consultation is in {phase.value})",
        )
