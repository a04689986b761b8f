"""Audit records: validation, the canonical encoding, strict decoding."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgov.types import ActorId
from ledger.errors import RecordError
from ledger.merkle import leaf_hash
from ledger.records import MAX_RECORD_BYTES, ZERO_HASH, Action, AuditRecord, Role

ACTOR = ActorId("0x5B38Da6a701c568545dCfcB03FcB875f56beddC4")


def _fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "actor": ACTOR,
        "role": Role.DEPARTMENT,
        "action": Action.TRAIN_ROUND,
        "timestamp_ms": 1_764_000_000_000,
        "dataset": "randhie",
        "purpose": "health-cost model, approval #12",
        "job": "job-7",
        "run": "run-7a",
        "round": 3,
        "record_count": 1250,
        "epsilon": 0.5,
        "delta": 1e-5,
        "result_hash": hashlib.sha256(b"update").digest(),
        "details": {"strategy": "fedavg", "clip": "1.0"},
    }
    fields.update(overrides)
    return fields


def test_known_record_has_known_bytes_and_leaf_hash() -> None:
    # Prepare
    record = AuditRecord(**_fields())

    # Execute
    data = record.encode()

    # Assert: the documented layout, byte for byte.
    assert data == (
        b'{"action":"train_round","actor":"0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",'
        b'"dataset":"randhie","delta":"0.00001","details":{"clip":"1.0",'
        b'"strategy":"fedavg"},"epsilon":"0.5","job":"job-7",'
        b'"purpose":"health-cost model, approval #12","record_count":1250,'
        b'"result_hash":"0x' + hashlib.sha256(b"update").hexdigest().encode() + b'",'
        b'"role":"department","round":3,"run":"run-7a",'
        b'"timestamp_ms":1764000000000,"v":1}'
    )
    # The example in docs/audit-log.md.
    assert leaf_hash(data).hex() == (
        "99142a06943ac0dd6b5fda353d5ced599063736e09442af28b041c1eb95a35c9"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1, "1"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1e-5, "0.00001"),
        (1.5e-9, "0.0000000015"),
        (8.25, "8.25"),
        (1e22, "10000000000000000000000"),
        (123456.789, "123456.789"),
    ],
)
def test_epsilon_is_shortest_round_trip_decimal_text(value: float, text: str) -> None:
    record = AuditRecord(**_fields(epsilon=value))

    assert json.loads(record.encode())["epsilon"] == text
    assert AuditRecord.decode(record.encode()).epsilon == float(value)


def test_strings_are_escaped_and_members_sorted_as_rfc8785() -> None:
    # Prepare: U+FB01 sorts before U+1F600 by code point but after it by
    # UTF-16 code units (0xFB01 > 0xD83D), which is what RFC 8785 uses.
    details = {"\ufb01": "x", "\U0001f600": "y", "a\n": 'q"\\\u2028\x7f\x01é'}

    # Execute
    data = AuditRecord(**_fields(details=details)).encode()

    # Assert
    assert (
        '"details":{"a\\n":"q\\"\\\\\u2028\x7f\\u0001é","\U0001f600":"y","\ufb01":"x"}'
    ).encode() in data


def test_constructor_normalises_actor_and_enums() -> None:
    record = AuditRecord(
        **_fields(actor=ACTOR.lower(), role="auditor", action="aggregate")
    )

    assert record.actor == ACTOR
    assert record.role is Role.AUDITOR
    assert record.action is Action.AGGREGATE
    assert record.result_hash != ZERO_HASH


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"action": "delete_everything"}, "action", "must be one of"),
        ({"role": "mayor"}, "role", "must be one of"),
        ({"actor": "0x1234"}, "actor", "Ethereum address"),
        ({"actor": 12}, "actor", "must be a string"),
        ({"round": -1}, "round", r"\[0, 2\*\*53 - 1\]"),
        ({"record_count": -5}, "record_count", r"\[0, 2\*\*53 - 1\]"),
        ({"record_count": True}, "record_count", "must be an integer"),
        ({"timestamp_ms": 2**53}, "timestamp_ms", r"\[0, 2\*\*53 - 1\]"),
        ({"timestamp_ms": 1.5}, "timestamp_ms", "must be an integer"),
        ({"epsilon": -0.1}, "epsilon", "finite"),
        ({"epsilon": math.nan}, "epsilon", "finite"),
        ({"epsilon": math.inf}, "epsilon", "finite"),
        ({"epsilon": "1"}, "epsilon", "must be a number"),
        ({"delta": 1.5}, "delta", r"\[0, 1.0\]"),
        ({"result_hash": b"\0" * 31}, "result_hash", "32 bytes"),
        ({"details": {"k": 1}}, "details['k']", "must be a string"),
        ({"details": [("k", "v")]}, "details", "mapping"),
        ({"purpose": "\ud800"}, "purpose", "valid Unicode"),
        ({"purpose": ""}, "purpose", "declared purpose"),
        ({"dataset": ""}, "dataset", "declared purpose"),
        ({"details": {"blob": "x" * MAX_RECORD_BYTES}}, "", "over 16384"),
    ],
)
def test_invalid_fields_are_rejected_with_the_field_named(
    overrides: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(RecordError, match=rule) as caught:
        AuditRecord(**_fields(**overrides))

    assert caught.value.field == field


def test_actions_without_data_need_no_dataset() -> None:
    record = AuditRecord(
        actor=ACTOR, role=Role.ADMIN, action=Action.KEY_ROTATION, timestamp_ms=1
    )

    assert record.dataset == ""
    assert AuditRecord.decode(record.encode()) == record


def _with(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


GOOD = AuditRecord(**_fields()).encode()


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (GOOD.replace(b",", b", "), "not in canonical form"),
        (b"{" + GOOD[GOOD.index(b'"actor"') :].replace(b"}", b"", 1), "not UTF-8 JSON"),
        (_with(GOOD, b'"v":1', b'"v":2'), "must be 1"),
        (_with(GOOD, b'"round":3', b'"round":3.0'), "is not an integer"),
        (_with(GOOD, b'"round":3', b'"round":3e0'), "is not an integer"),
        (_with(GOOD, b'"epsilon":"0.5"', b'"epsilon":"0.50"'), "canonical decimal"),
        (_with(GOOD, b'"epsilon":"0.5"', b'"epsilon":"5e-1"'), "canonical decimal"),
        (_with(GOOD, b'"epsilon":"0.5"', b'"epsilon":0.5'), "is not an integer"),
        (_with(GOOD, b'"delta":"0.00001"', b'"delta":"NaN"'), "canonical decimal"),
        (_with(GOOD, b'"result_hash":"0x', b'"result_hash":"0X'), "lower-case hex"),
        (_with(GOOD, ACTOR.encode(), ACTOR.lower().encode()), "not in canonical form"),
        (_with(GOOD, b'"job":"job-7",', b""), r"members missing \['job'\]"),
        (_with(GOOD, b'"v":1', b'"v":1,"x":0'), r"unknown \['x'\]"),
        (_with(GOOD, b'"v":1', b'"v":1,"v":1'), "appears twice"),
        (_with(GOOD, b'"round":3', b'"round":Infinity'), "is not an integer"),
        (GOOD.replace(b"randhie", b"rand\xffie"), "not UTF-8"),
        (b"[1]", "must be a JSON object"),
        (
            _with(GOOD, b'"dataset":"randhie",', b"")[:-1] + b',"dataset":"randhie"}',
            "not in canonical form",
        ),
    ],
)
def test_decode_rejects_anything_but_the_canonical_form(data: bytes, rule: str) -> None:
    with pytest.raises(RecordError, match=rule):
        AuditRecord.decode(data)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(RecordError, match="must decode bytes"):
        AuditRecord.decode(GOOD.decode())  # type: ignore[arg-type]


_text = st.text(max_size=40)
_finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
records = st.builds(
    AuditRecord,
    actor=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    role=st.sampled_from(Role),
    action=st.sampled_from(Action),
    timestamp_ms=st.integers(min_value=0, max_value=2**53 - 1),
    dataset=_text.filter(bool),
    purpose=_text.filter(bool),
    job=_text,
    run=_text,
    round=st.integers(min_value=0, max_value=2**53 - 1),
    record_count=st.integers(min_value=0, max_value=2**53 - 1),
    epsilon=_finite | st.floats(min_value=0.0, max_value=1e300),
    delta=st.floats(min_value=0.0, max_value=1.0),
    result_hash=st.binary(min_size=32, max_size=32),
    details=st.dictionaries(_text, _text, max_size=5),
)


@given(records)
def test_encode_decode_round_trip(record: AuditRecord) -> None:
    # Execute
    data = record.encode()
    decoded = AuditRecord.decode(data)

    # Assert: same record, same bytes, a single line of UTF-8 JSON.
    assert decoded == record
    assert decoded.encode() == data
    assert b"\n" not in data
    assert list(json.loads(data)) == sorted(json.loads(data))


@given(records, st.data())
def test_any_changed_byte_changes_or_breaks_the_record(
    record: AuditRecord, data: st.DataObject
) -> None:
    # Prepare: alter one byte of the canonical encoding.
    encoded = bytearray(record.encode())
    position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(min_value=1, max_value=255))

    # Execute / Assert: never the same record from different bytes.
    try:
        decoded = AuditRecord.decode(bytes(encoded))
    except RecordError:
        return
    assert decoded != record
