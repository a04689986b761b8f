# pragma version 0.4.3
"""
@title fedgov Consultation
@notice Verifiable community votes: a registrar opens a consultation, certifies
        each resident on its eligibility roll once, at the resident's own signed
        request, and residents vote anonymously in two phases (commit, then
        reveal). Anyone can recount the result from this contract's events.
@dev    One contract holds many consultations, numbered from 1. Each runs through
        windows of block time:
            issuance  [created,      commit_start)  registrar records credentials
            commit    [commit_start, commit_end)    ballots are committed
            reveal    [commit_end,   reveal_end)    ballots are opened and tallied
            final     [reveal_end, ...)             anyone may finalize
        Eligibility. The roll is an RFC 9162 Merkle tree (SHA-256, the tree of
        ledger/merkle.py) with one leaf per resident: a 32-byte entry commitment
        (the resident's identifier, salted) and the resident's roll key, an
        address the resident registered; its root and size are fixed at creation.
        The registrar records each credential it issues against a roll entry, with
        an inclusion proof and the request the roll key signed (EIP-712, over the
        ballot key or the blinded message): no record without the resident's
        own request. The entry
        is the issuance nullifier, so a resident is certified at most once, in
        public.
        Credentials come in two kinds, fixed at creation.
        Ring credentials (ring_size > 0). The resident's request carries a
        fresh secp256k1 ballot key, and the recorded keys, in issuance order,
        are the consultation's anonymity set. A ballot carries a linkable ring
        signature (LSAG, ledger/voting/ring.py) by one of ring_size recorded
        keys that the ballot names, over its voting key, and the signature's
        key image: one key, one image. This contract cannot afford to verify
        the signature (secp256k1 has no precompile); it checks the ring's
        shape (and that the image is a point of the curve, as every recorded
        key must be) and publishes everything in the event, and the public re-tally
        counts only ballots whose signature verifies, the first one per key
        image. Key images are deliberately not exclusive here: a copy of a
        pending ballot's image with a bad signature must not take its place.
        A registrar cannot mint a ballot without a recorded key it holds the
        secret of, and it holds none: every recorded key was asked for by a
        roll key.
        Blind RSA credentials (ring_size = 0, kept for the browser portal). A
        credential is an RSA blind signature (RFC 9474 protocol,
        RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt, randomized message)
        by the consultation's 2048-bit key over the resident's voting key. The
        registrar signs blinded messages, so it never sees which voting key it
        certified; this contract verifies the unblinded signature with the modexp
        precompile when the ballot is committed. The voting key is the ballot
        nullifier: one ballot per credential. A credential cannot say which
        issuance it came from, so the ballots are not capped by the recorded
        issuances (a cap would let credentials signed off the record lock out
        residents holding recorded ones): more ballots than recorded credentials
        is public (committed > issued) and fails the re-tally.
        Ballots. commitment = keccak256(abi_encode(COMMITMENT_TAG, chain id, this
        contract, consultation id, voting key, choice, salt)). A commit must carry
        the voting key's EIP-712 signature over (consultation id, voting key,
        commitment): the sender is only a relayer paying gas, so the voting key
        never needs funds (funding it would link it to whoever paid), and nobody
        who sees a pending commit can reuse its credential with another commitment.
"""

import role_ids
import IRoles

MODULUS_BYTES: constant(uint256) = 256
PUBLIC_EXPONENT: constant(Bytes[3]) = b"\x01\x00\x01"
MAX_OPTIONS: constant(uint256) = 16
MAX_OPTION_BYTES: constant(uint256) = 64
MAX_URI_BYTES: constant(uint256) = 256
# A roll of up to 2**32 residents.
MAX_PROOF_LENGTH: constant(uint256) = 32
MAX_RING: constant(uint256) = 64
BALLOT_KEY_BYTES: constant(uint256) = 33
MODEXP: constant(address) = 0x0000000000000000000000000000000000000005
CREDENTIAL_TAG: constant(Bytes[27]) = b"fedgov-consultation-key-v1:"
COMMITMENT_TAG: constant(bytes32) = keccak256("fedgov.consultation.commitment.v1")
DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
BALLOT_TYPEHASH: constant(bytes32) = keccak256(
    "Ballot(uint256 consultationId,address votingKey,bytes32 commitment)"
)
REQUEST_TYPEHASH: constant(bytes32) = keccak256(
    "CredentialRequest(uint256 consultationId,bytes32 blindedMessageHash)"
)
KEY_REQUEST_TYPEHASH: constant(bytes32) = keccak256(
    "BallotKeyRequest(uint256 consultationId,bytes32 ballotKeyHash)"
)
NAME_HASH: constant(bytes32) = keccak256("fedgov-consultation")
VERSION_HASH: constant(bytes32) = keccak256("1")
# secp256k1 order / 2: larger s values are the malleable twin of a signature (EIP-2).
HALF_CURVE_ORDER: constant(uint256) = (
    57896044618658097711785492504343953926418782139537452191302581570759080747168
)
# secp256k1's field prime, and (p - 1) / 2 for Euler's criterion.
FIELD_PRIME: constant(uint256) = (
    115792089237316195423570985008687907853269984665640564039457584007908834671663
)
HALF_FIELD_PRIME: constant(uint256) = (
    57896044618658097711785492504343953926634992332820282019728792003954417335831
)
# All bits of a word but the top one (PSS clears the encoded message's top bit).
LOW_255_BITS: constant(uint256) = max_value(uint256) >> 1


struct Consultation:
    registrar: address
    question_hash: bytes32
    eligibility_root: bytes32
    roll_size: uint256
    modulus_hash: bytes32
    ring_size: uint256
    option_count: uint256
    commit_start: uint256
    commit_end: uint256
    reveal_end: uint256
    issued: uint256
    committed: uint256
    revealed: uint256
    finalized: bool
    created_block: uint256


struct Ballot:
    commitment: bytes32
    revealed: bool
    choice: uint256


event ConsultationCreated:
    consultationId: indexed(uint256)
    registrar: indexed(address)
    questionHash: bytes32
    questionUri: String[MAX_URI_BYTES]
    options: DynArray[String[MAX_OPTION_BYTES], MAX_OPTIONS]
    eligibilityRoot: bytes32
    rollSize: uint256
    modulus: Bytes[MODULUS_BYTES]
    ringSize: uint256
    commitStart: uint256
    commitEnd: uint256
    revealEnd: uint256

event CredentialIssued:
    consultationId: indexed(uint256)
    rollEntry: indexed(bytes32)
    # The resident's roll key and its signed request, so that anyone can check
    # from the events alone that every recorded credential was asked for.
    requester: address
    blindedMessageHash: bytes32
    requestSignature: Bytes[65]
    issued: uint256

event BallotKeyRegistered:
    consultationId: indexed(uint256)
    rollEntry: indexed(bytes32)
    # As for CredentialIssued: the request is re-checked from the events alone.
    requester: address
    ballotKey: Bytes[BALLOT_KEY_BYTES]
    requestSignature: Bytes[65]
    issued: uint256

event BallotCommitted:
    consultationId: indexed(uint256)
    votingKey: indexed(address)
    commitment: bytes32
    # The credential, so that anyone can re-verify every ballot's eligibility
    # from the events alone, without trusting this contract's code.
    messagePrefix: bytes32
    credential: Bytes[MODULUS_BYTES]

event RingBallotCommitted:
    consultationId: indexed(uint256)
    votingKey: indexed(address)
    commitment: bytes32
    # The ring signature over the voting key's credential message, re-verified
    # by the re-tally: ring members are issuance numbers (0-based, ascending).
    keyImage: Bytes[BALLOT_KEY_BYTES]
    ring: DynArray[uint256, MAX_RING]
    challenge: bytes32
    responses: DynArray[bytes32, MAX_RING]

event BallotRevealed:
    consultationId: indexed(uint256)
    votingKey: indexed(address)
    choice: uint256
    salt: bytes32

event ConsultationFinalized:
    consultationId: indexed(uint256)
    tally: DynArray[uint256, MAX_OPTIONS]
    issued: uint256
    committed: uint256
    revealed: uint256


roles: public(immutable(IRoles))
consultation_count: public(uint256)
_consultations: HashMap[uint256, Consultation]
_tally: HashMap[uint256, HashMap[uint256, uint256]]
# consultation id -> roll entry -> a credential was recorded for it
credential_issued: public(HashMap[uint256, HashMap[bytes32, bool]])
# Two words per ballot: its commitment, and its revealed choice + 1 (0 while
# unrevealed, so that a reveal is one fresh slot and no separate flag).
_commitments: HashMap[uint256, HashMap[address, bytes32]]
_reveals: HashMap[uint256, HashMap[address, uint256]]


@deploy
def __init__(roles_contract: address):
    assert roles_contract.is_contract, "Consultation: roles is not a contract"
    roles = IRoles(roles_contract)


@external
def create(
    question_hash: bytes32,
    question_uri: String[MAX_URI_BYTES],
    options: DynArray[String[MAX_OPTION_BYTES], MAX_OPTIONS],
    eligibility_root: bytes32,
    roll_size: uint256,
    modulus: Bytes[MODULUS_BYTES],
    ring_size: uint256,
    commit_start: uint256,
    commit_end: uint256,
    reveal_end: uint256,
) -> uint256:
    assert staticcall roles.has_role(msg.sender, role_ids.REGISTRAR), (
        "Consultation: caller is not a registrar"
    )
    assert question_hash != empty(bytes32), "Consultation: question hash is empty"
    assert len(options) >= 2, "Consultation: needs at least 2 options"
    for option: String[MAX_OPTION_BYTES] in options:
        assert len(option) > 0, "Consultation: an option is empty"
    assert eligibility_root != empty(bytes32), "Consultation: eligibility root is empty"
    assert roll_size > 0, "Consultation: the roll is empty"
    assert roll_size <= 1 << MAX_PROOF_LENGTH, "Consultation: the roll is too large"
    assert ring_size <= MAX_RING, "Consultation: ring size is above 64"
    if ring_size == 0:
        assert len(modulus) == MODULUS_BYTES, "Consultation: modulus must be 256 bytes"
        assert convert(slice(modulus, 0, 1), uint256) >= 128, (
            "Consultation: modulus must be exactly 2048 bits"
        )
        assert convert(slice(modulus, MODULUS_BYTES - 1, 1), uint256) % 2 == 1, (
            "Consultation: modulus must be odd"
        )
    else:
        assert len(modulus) == 0, "Consultation: ring credentials take no modulus"
    assert commit_start > block.timestamp, (
        "Consultation: commit window must open in the future"
    )
    assert commit_end > commit_start, "Consultation: commit window is empty"
    assert reveal_end > commit_end, "Consultation: reveal window is empty"

    consultation_id: uint256 = self.consultation_count + 1
    self.consultation_count = consultation_id
    self._consultations[consultation_id] = Consultation(
        registrar=msg.sender,
        question_hash=question_hash,
        eligibility_root=eligibility_root,
        roll_size=roll_size,
        modulus_hash=keccak256(modulus),
        ring_size=ring_size,
        option_count=len(options),
        commit_start=commit_start,
        commit_end=commit_end,
        reveal_end=reveal_end,
        issued=0,
        committed=0,
        revealed=0,
        finalized=False,
        created_block=block.number,
    )
    log ConsultationCreated(
        consultationId=consultation_id,
        registrar=msg.sender,
        questionHash=question_hash,
        questionUri=question_uri,
        options=options,
        eligibilityRoot=eligibility_root,
        rollSize=roll_size,
        modulus=modulus,
        ringSize=ring_size,
        commitStart=commit_start,
        commitEnd=commit_end,
        revealEnd=reveal_end,
    )
    return consultation_id


@external
def record_issuance(
    consultation_id: uint256,
    roll_index: uint256,
    roll_entry: bytes32,
    requester: address,
    roll_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
    blinded_message_hash: bytes32,
    request_signature: Bytes[65],
):
    self._require_exists(consultation_id)
    assert self._consultations[consultation_id].ring_size == 0, (
        "Consultation: this consultation records ballot keys, not blinded requests"
    )
    issued: uint256 = self._record(
        consultation_id,
        roll_index,
        roll_entry,
        requester,
        roll_proof,
        self._request_digest(consultation_id, REQUEST_TYPEHASH, blinded_message_hash),
        request_signature,
    )
    log CredentialIssued(
        consultationId=consultation_id,
        rollEntry=roll_entry,
        requester=requester,
        blindedMessageHash=blinded_message_hash,
        requestSignature=request_signature,
        issued=issued,
    )


@external
def register_ballot_key(
    consultation_id: uint256,
    roll_index: uint256,
    roll_entry: bytes32,
    requester: address,
    roll_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
    ballot_key: Bytes[BALLOT_KEY_BYTES],
    request_signature: Bytes[65],
):
    self._require_exists(consultation_id)
    assert self._consultations[consultation_id].ring_size != 0, (
        "Consultation: this consultation records blinded requests, not ballot keys"
    )
    assert self._is_point(ballot_key), (
        "Consultation: ballot key is not a compressed point of secp256k1"
    )
    issued: uint256 = self._record(
        consultation_id,
        roll_index,
        roll_entry,
        requester,
        roll_proof,
        self._request_digest(consultation_id, KEY_REQUEST_TYPEHASH, keccak256(ballot_key)),
        request_signature,
    )
    log BallotKeyRegistered(
        consultationId=consultation_id,
        rollEntry=roll_entry,
        requester=requester,
        ballotKey=ballot_key,
        requestSignature=request_signature,
        issued=issued,
    )


@external
def commit(
    consultation_id: uint256,
    voting_key: address,
    commitment: bytes32,
    message_prefix: bytes32,
    credential: Bytes[MODULUS_BYTES],
    modulus: Bytes[MODULUS_BYTES],
    authorization: Bytes[65],
):
    self._check_ballot(consultation_id, voting_key, commitment, authorization)
    assert self._consultations[consultation_id].ring_size == 0, (
        "Consultation: this consultation's ballots carry ring signatures"
    )
    assert keccak256(modulus) == self._consultations[consultation_id].modulus_hash, (
        "Consultation: modulus is not this consultation's key"
    )
    assert len(credential) == MODULUS_BYTES, "Consultation: credential must be 256 bytes"
    assert self._below(credential, modulus), (
        "Consultation: credential is not below the modulus"
    )
    assert self._credential_valid(
        consultation_id, voting_key, message_prefix, credential, modulus
    ), "Consultation: credential does not verify under the registrar's key"
    # No cap on ballots against recorded credentials: a credential does not say
    # which issuance it came from, so a cap would let credentials signed off the
    # record take the places of residents holding recorded ones. Every
    # credential was recorded before the commit window opened, so committed >
    # issued can only mean credentials signed off the record; it is public, and
    # the re-tally fails on it.

    self._commitments[consultation_id][voting_key] = commitment
    self._consultations[consultation_id].committed += 1
    log BallotCommitted(
        consultationId=consultation_id,
        votingKey=voting_key,
        commitment=commitment,
        messagePrefix=message_prefix,
        credential=credential,
    )


@external
def commit_ring(
    consultation_id: uint256,
    voting_key: address,
    commitment: bytes32,
    key_image: Bytes[BALLOT_KEY_BYTES],
    ring: DynArray[uint256, MAX_RING],
    challenge: bytes32,
    responses: DynArray[bytes32, MAX_RING],
    authorization: Bytes[65],
):
    self._check_ballot(consultation_id, voting_key, commitment, authorization)
    ring_size: uint256 = self._consultations[consultation_id].ring_size
    assert ring_size != 0, "Consultation: this consultation's ballots carry credentials"
    issued: uint256 = self._consultations[consultation_id].issued
    assert issued != 0, "Consultation: no ballot key was registered"
    assert len(ring) == min(ring_size, issued), (
        "Consultation: the ring must hold min(ring size, registered keys) keys"
    )
    assert len(responses) == len(ring), "Consultation: one response per ring member"
    assert self._is_point(key_image), (
        "Consultation: key image is not a compressed point of secp256k1"
    )
    # Ascending issuance numbers: distinct members, each one registered. The
    # signature itself is the re-tally's to verify (see the notice above).
    for i: uint256 in range(len(ring), bound=MAX_RING):
        if i > 0:
            assert ring[i] > ring[i - 1], "Consultation: ring members must ascend"
    assert ring[len(ring) - 1] < issued, "Consultation: ring member was never registered"

    self._commitments[consultation_id][voting_key] = commitment
    self._consultations[consultation_id].committed += 1
    log RingBallotCommitted(
        consultationId=consultation_id,
        votingKey=voting_key,
        commitment=commitment,
        keyImage=key_image,
        ring=ring,
        challenge=challenge,
        responses=responses,
    )


@external
def reveal(consultation_id: uint256, voting_key: address, choice: uint256, salt: bytes32):
    self._require_exists(consultation_id)
    assert (
        block.timestamp >= self._consultations[consultation_id].commit_end
        and block.timestamp < self._consultations[consultation_id].reveal_end
    ), "Consultation: reveal window is not open"
    commitment: bytes32 = self._commitments[consultation_id][voting_key]
    assert commitment != empty(bytes32), (
        "Consultation: no ballot committed for this voting key"
    )
    assert self._reveals[consultation_id][voting_key] == 0, (
        "Consultation: ballot already revealed"
    )
    assert self._commitment(consultation_id, voting_key, choice, salt) == commitment, (
        "Consultation: reveal does not match the commitment"
    )
    assert choice < self._consultations[consultation_id].option_count, (
        "Consultation: unknown option"
    )

    self._reveals[consultation_id][voting_key] = choice + 1
    self._tally[consultation_id][choice] += 1
    self._consultations[consultation_id].revealed += 1
    log BallotRevealed(
        consultationId=consultation_id, votingKey=voting_key, choice=choice, salt=salt
    )


@external
def finalize(consultation_id: uint256):
    c: Consultation = self._existing(consultation_id)
    assert block.timestamp >= c.reveal_end, "Consultation: reveal window has not closed"
    assert not c.finalized, "Consultation: already finalized"
    self._consultations[consultation_id].finalized = True
    log ConsultationFinalized(
        consultationId=consultation_id,
        tally=self._tally_of(consultation_id, c.option_count),
        issued=c.issued,
        committed=c.committed,
        revealed=c.revealed,
    )


@view
@external
def consultation(consultation_id: uint256) -> Consultation:
    return self._existing(consultation_id)


@view
@external
def tally(consultation_id: uint256) -> DynArray[uint256, MAX_OPTIONS]:
    c: Consultation = self._existing(consultation_id)
    return self._tally_of(consultation_id, c.option_count)


@view
@external
def ballot(consultation_id: uint256, voting_key: address) -> Ballot:
    revealed: uint256 = self._reveals[consultation_id][voting_key]
    choice: uint256 = 0
    if revealed != 0:
        choice = revealed - 1
    return Ballot(
        commitment=self._commitments[consultation_id][voting_key],
        revealed=revealed != 0,
        choice=choice,
    )


@view
@external
def commitment_for(
    consultation_id: uint256, voting_key: address, choice: uint256, salt: bytes32
) -> bytes32:
    return self._commitment(consultation_id, voting_key, choice, salt)


@view
@external
def ballot_digest(
    consultation_id: uint256, voting_key: address, commitment: bytes32
) -> bytes32:
    return self._ballot_digest(consultation_id, voting_key, commitment)


@view
@external
def request_digest(consultation_id: uint256, blinded_message_hash: bytes32) -> bytes32:
    return self._request_digest(consultation_id, REQUEST_TYPEHASH, blinded_message_hash)


@view
@external
def key_request_digest(consultation_id: uint256, ballot_key_hash: bytes32) -> bytes32:
    return self._request_digest(consultation_id, KEY_REQUEST_TYPEHASH, ballot_key_hash)


@view
@external
def credential_message(consultation_id: uint256, voting_key: address) -> Bytes[131]:
    return self._credential_message(consultation_id, voting_key)


@view
@external
def credential_valid(
    consultation_id: uint256,
    voting_key: address,
    message_prefix: bytes32,
    credential: Bytes[MODULUS_BYTES],
    modulus: Bytes[MODULUS_BYTES],
) -> bool:
    if len(credential) != MODULUS_BYTES or len(modulus) != MODULUS_BYTES:
        return False
    return self._credential_valid(
        consultation_id, voting_key, message_prefix, credential, modulus
    )


@pure
@external
def roll_root(
    roll_index: uint256,
    roll_size: uint256,
    roll_entry: bytes32,
    requester: address,
    roll_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
) -> (bool, bytes32):
    if roll_index >= roll_size:
        return False, empty(bytes32)
    return self._roll_root(roll_index, roll_size, roll_entry, requester, roll_proof)


@view
@internal
def _require_exists(consultation_id: uint256):
    assert self._consultations[consultation_id].registrar != empty(address), (
        "Consultation: unknown consultation"
    )


@view
@internal
def _existing(consultation_id: uint256) -> Consultation:
    c: Consultation = self._consultations[consultation_id]
    assert c.registrar != empty(address), "Consultation: unknown consultation"
    return c


@view
@internal
def _tally_of(consultation_id: uint256, option_count: uint256) -> DynArray[uint256, MAX_OPTIONS]:
    counts: DynArray[uint256, MAX_OPTIONS] = []
    for i: uint256 in range(option_count, bound=MAX_OPTIONS):
        counts.append(self._tally[consultation_id][i])
    return counts


@view
@internal
def _commitment(
    consultation_id: uint256, voting_key: address, choice: uint256, salt: bytes32
) -> bytes32:
    return keccak256(
        abi_encode(COMMITMENT_TAG, chain.id, self, consultation_id, voting_key, choice, salt)
    )


@view
@internal
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@view
@internal
def _ballot_digest(
    consultation_id: uint256, voting_key: address, commitment: bytes32
) -> bytes32:
    struct_hash: bytes32 = keccak256(
        abi_encode(BALLOT_TYPEHASH, consultation_id, voting_key, commitment)
    )
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@view
@internal
def _request_digest(
    consultation_id: uint256, typehash: bytes32, value_hash: bytes32
) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(typehash, consultation_id, value_hash))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@internal
def _record(
    consultation_id: uint256,
    roll_index: uint256,
    roll_entry: bytes32,
    requester: address,
    roll_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
    request_digest: bytes32,
    request_signature: Bytes[65],
) -> uint256:
    # Storage is read field by field: loading the whole struct would cost 15
    # cold reads, where each function needs about five.
    assert msg.sender == self._consultations[consultation_id].registrar, (
        "Consultation: caller is not this consultation's registrar"
    )
    assert staticcall roles.has_role(msg.sender, role_ids.REGISTRAR), (
        "Consultation: caller is not a registrar"
    )
    assert block.timestamp < self._consultations[consultation_id].commit_start, (
        "Consultation: issuance closed when the commit window opened"
    )
    assert not self.credential_issued[consultation_id][roll_entry], (
        "Consultation: resident already holds a credential"
    )
    roll_size: uint256 = self._consultations[consultation_id].roll_size
    assert roll_index < roll_size, "Consultation: roll index is outside the roll"
    well_formed: bool = False
    root: bytes32 = empty(bytes32)
    well_formed, root = self._roll_root(
        roll_index, roll_size, roll_entry, requester, roll_proof
    )
    assert well_formed, "Consultation: malformed roll proof"
    assert root == self._consultations[consultation_id].eligibility_root, (
        "Consultation: resident is not on the roll"
    )
    assert self._recover(request_digest, request_signature) == requester, (
        "Consultation: request is not signed by the resident's roll key"
    )
    self.credential_issued[consultation_id][roll_entry] = True
    issued: uint256 = self._consultations[consultation_id].issued + 1
    self._consultations[consultation_id].issued = issued
    return issued


@view
@internal
def _check_ballot(
    consultation_id: uint256,
    voting_key: address,
    commitment: bytes32,
    authorization: Bytes[65],
):
    self._require_exists(consultation_id)
    assert (
        block.timestamp >= self._consultations[consultation_id].commit_start
        and block.timestamp < self._consultations[consultation_id].commit_end
    ), "Consultation: commit window is not open"
    assert self._commitments[consultation_id][voting_key] == empty(bytes32), (
        "Consultation: this voting key has already cast a ballot"
    )
    assert commitment != empty(bytes32), "Consultation: commitment is empty"
    assert self._recover(
        self._ballot_digest(consultation_id, voting_key, commitment), authorization
    ) == voting_key, "Consultation: ballot is not signed by its voting key"


@view
@internal
def _is_point(point: Bytes[BALLOT_KEY_BYTES]) -> bool:
    # 0x02 or 0x03, then an x below p with x^3 + 7 a square mod p (Euler's
    # criterion through the modexp precompile): the curve has a point there,
    # so a recorded key or an image is usable, never a ring's silent spoiler.
    if len(point) != BALLOT_KEY_BYTES:
        return False
    prefix: uint256 = convert(slice(point, 0, 1), uint256)
    if prefix != 2 and prefix != 3:
        return False
    x: uint256 = extract32(point, 1, output_type=uint256)
    if x >= FIELD_PRIME:
        return False
    rhs: uint256 = uint256_addmod(
        uint256_mulmod(uint256_mulmod(x, x, FIELD_PRIME), x, FIELD_PRIME), 7, FIELD_PRIME
    )
    legendre: Bytes[32] = raw_call(
        MODEXP,
        concat(
            convert(32, bytes32),
            convert(32, bytes32),
            convert(32, bytes32),
            convert(rhs, bytes32),
            convert(HALF_FIELD_PRIME, bytes32),
            convert(FIELD_PRIME, bytes32),
        ),
        max_outsize=32,
        is_static_call=True,
    )
    return len(legendre) == 32 and extract32(legendre, 0, output_type=uint256) == 1


@pure
@internal
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    assert len(signature) == 65, "Consultation: signature must be 65 bytes"
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    assert v == 27 or v == 28, "Consultation: signature v must be 27 or 28"
    assert s <= HALF_CURVE_ORDER, "Consultation: signature s is not canonical"
    signer: address = ecrecover(digest, v, r, s)
    # ecrecover answers 0 for a signature that recovers no key: never a signer.
    assert signer != empty(address), "Consultation: signature recovers no key"
    return signer


@view
@internal
def _credential_message(consultation_id: uint256, voting_key: address) -> Bytes[131]:
    # tag (27) || chain id (32) || this contract (20) || consultation id (32)
    # || voting key (20): a credential is valid for one key in one consultation.
    return concat(
        CREDENTIAL_TAG,
        convert(chain.id, bytes32),
        convert(self, bytes20),
        convert(consultation_id, bytes32),
        convert(voting_key, bytes20),
    )


@view
@internal
def _credential_valid(
    consultation_id: uint256,
    voting_key: address,
    message_prefix: bytes32,
    credential: Bytes[MODULUS_BYTES],
    modulus: Bytes[MODULUS_BYTES],
) -> bool:
    # RSASSA-PSS-VERIFY (RFC 8017 8.1.2, 9.1.2) for a 2048-bit modulus, SHA-256,
    # MGF1-SHA-256, 32-byte salt, over the randomized message prefix || message
    # (RFC 9474 section 4). emBits = 2047, so emLen = 256 and the encoded message
    # is maskedDB (223 bytes) || H (32) || 0xbc.
    m_hash: bytes32 = sha256(
        concat(message_prefix, self._credential_message(consultation_id, voting_key))
    )
    encoded: Bytes[MODULUS_BYTES] = raw_call(
        MODEXP,
        concat(
            convert(MODULUS_BYTES, bytes32),
            convert(3, bytes32),
            convert(MODULUS_BYTES, bytes32),
            credential,
            PUBLIC_EXPONENT,
            modulus,
        ),
        max_outsize=MODULUS_BYTES,
        is_static_call=True,
    )
    if len(encoded) != MODULUS_BYTES:
        return False
    if convert(slice(encoded, MODULUS_BYTES - 1, 1), uint256) != 188:  # 0xbc
        return False
    h: bytes32 = extract32(encoded, 223)
    # DB = maskedDB xor MGF1(H), as seven 32-byte words; the last word's final
    # byte is H's first, not DB's. DB must be 190 zero bytes (the top bit is
    # cleared first), 0x01, then the 32-byte salt.
    words: uint256[7] = empty(uint256[7])
    for i: uint256 in range(7):
        mask: uint256 = convert(
            sha256(concat(h, convert(convert(i, uint32), bytes4))), uint256
        )
        words[i] = extract32(encoded, 32 * i, output_type=uint256) ^ mask
    words[0] = words[0] & LOW_255_BITS
    for i: uint256 in range(5):
        if words[i] != 0:
            return False
    if words[5] >> 8 != 1:
        return False
    salt: bytes32 = convert(((words[5] & 255) << 248) | (words[6] >> 8), bytes32)
    return sha256(concat(empty(bytes8), m_hash, salt)) == h


@pure
@internal
def _below(a: Bytes[MODULUS_BYTES], b: Bytes[MODULUS_BYTES]) -> bool:
    # a < b, both 256-byte big-endian numbers.
    for i: uint256 in range(MODULUS_BYTES // 32):
        x: uint256 = extract32(a, 32 * i, output_type=uint256)
        y: uint256 = extract32(b, 32 * i, output_type=uint256)
        if x != y:
            return x < y
    return False


@pure
@internal
def _roll_root(
    roll_index: uint256,
    roll_size: uint256,
    roll_entry: bytes32,
    requester: address,
    roll_proof: DynArray[bytes32, MAX_PROOF_LENGTH],
) -> (bool, bytes32):
    # RFC 9162 section 2.1.3.2: the root that an inclusion proof implies, and
    # whether the proof has the length the index and size call for. The leaf is
    # the entry commitment followed by the resident's roll key (52 bytes).
    fn: uint256 = roll_index
    sn: uint256 = roll_size - 1
    r: bytes32 = sha256(concat(b"\x00", roll_entry, convert(requester, bytes20)))
    for p: bytes32 in roll_proof:
        if sn == 0:
            return False, empty(bytes32)
        if fn & 1 == 1 or fn == sn:
            r = sha256(concat(b"\x01", p, r))
            if fn & 1 == 0:
                for _: uint256 in range(MAX_PROOF_LENGTH):
                    if fn & 1 == 1 or fn == 0:
                        break
                    fn = fn >> 1
                    sn = sn >> 1
        else:
            r = sha256(concat(b"\x01", r, p))
        fn = fn >> 1
        sn = sn >> 1
    if sn != 0:
        return False, empty(bytes32)
    return True, r
