"""Tests of privacy.pseudonymize: HMAC and AES-SIV pseudonyms, key epochs, rotation."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from fedgov.types import DepartmentId
from privacy.at_rest import AtRestKey, open_sealed, seal
from privacy.errors import KeyMaterialError, PseudonymError
from privacy.pseudonymize import (
    KeyedHashPseudonymizer,
    PseudonymKey,
    PseudonymMode,
    ReversiblePseudonymizer,
    dump_keys,
    load_keys,
)

HEALTH = DepartmentId("health-site-1")
HOUSING = DepartmentId("housing")
HMAC_KEY = PseudonymKey(HEALTH, 1, PseudonymMode.KEYED_HASH, b"\x01" * 32)
SIV_KEY = PseudonymKey(HEALTH, 1, PseudonymMode.SIV, bytes(range(64)))

identifiers = st.one_of(
    st.text(min_size=1, max_size=40), st.integers(min_value=-(10**18), max_value=10**18)
)


def _payload(pseudonym: str) -> bytes:
    text = pseudonym.partition(".")[2].upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            b"This is a test using a larger than block-size key and a larger than "
            b"block-size data. The key needs to be hashed before being used by the "
            b"HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ],
    ids=["rfc4231-case6", "rfc4231-case7"],
)
def test_hmac_pseudonym_is_rfc_4231_hmac_sha256_truncated(
    data: bytes, expected: str
) -> None:
    # Prepare: RFC 4231 test cases 6 and 7 use a 131-byte key of 0xaa.
    key = PseudonymKey(HEALTH, 7, PseudonymMode.KEYED_HASH, b"\xaa" * 131)

    # Act
    pseudonym = KeyedHashPseudonymizer(key).pseudonymize(data.decode())

    # Assert
    assert pseudonym.startswith("h7.")
    assert _payload(pseudonym) == bytes.fromhex(expected)[:16]


@settings(max_examples=50, deadline=None)
@given(identifier=identifiers)
def test_hmac_is_deterministic_per_key(identifier: str | int) -> None:
    # Prepare
    same = KeyedHashPseudonymizer(HMAC_KEY)
    other = KeyedHashPseudonymizer(
        PseudonymKey(HEALTH, 2, PseudonymMode.KEYED_HASH, b"\x02" * 32)
    )

    # Act
    first, second = same.pseudonymize(identifier), same.pseudonymize(identifier)

    # Assert
    assert first == second
    assert _payload(other.pseudonymize(identifier)) != _payload(first)
    assert str(identifier) not in first.partition(".")[2] or len(str(identifier)) < 4


@settings(max_examples=50, deadline=None)
@given(identifier=identifiers)
def test_siv_round_trip(identifier: str | int) -> None:
    # Prepare
    pseudonymizer = ReversiblePseudonymizer(SIV_KEY)

    # Act
    pseudonym = pseudonymizer.pseudonymize(identifier)

    # Assert
    assert pseudonym == pseudonymizer.pseudonymize(identifier)
    assert pseudonymizer.reveal(pseudonym) == str(identifier)
    assert pseudonymizer.epoch_of(pseudonym) == 1


def test_distinct_identifiers_get_distinct_pseudonyms() -> None:
    # Prepare
    values = [f"{n:09d}" for n in range(2000)]

    # Act
    hashed = KeyedHashPseudonymizer(HMAC_KEY).pseudonymize_many(values)
    encrypted = ReversiblePseudonymizer(SIV_KEY).pseudonymize_many(values)

    # Assert
    assert len(set(hashed)) == len(set(encrypted)) == 2000


def test_int_and_its_decimal_string_agree() -> None:
    # Prepare
    pseudonymizer = KeyedHashPseudonymizer(HMAC_KEY)

    # Act / Assert
    assert pseudonymizer.pseudonymize(12345) == pseudonymizer.pseudonymize("12345")
    assert pseudonymizer.pseudonymize(np.int64(12345)) == pseudonymizer.pseudonymize(
        "12345"
    )


@pytest.mark.parametrize("value", ["", 12.0, True, None, b"123"], ids=repr)
def test_bad_identifiers_are_refused(value: object) -> None:
    # Act / Assert
    with pytest.raises(PseudonymError, match="identifier"):
        KeyedHashPseudonymizer(HMAC_KEY).pseudonymize(value)  # type: ignore[arg-type]


def test_column_keeps_missing_values_and_names_bad_rows() -> None:
    # Prepare
    frame = pd.DataFrame({"resident": ["a", None, "b", "a"], "visits": [1, 2, 3, 4]})
    pseudonymizer = ReversiblePseudonymizer(SIV_KEY)

    # Act
    result = pseudonymizer.pseudonymize_column(frame, "resident")

    # Assert
    assert result["resident"].isna().tolist() == [False, True, False, False]
    values = result["resident"].tolist()
    assert values[0] == values[3] == pseudonymizer.pseudonymize("a")
    assert pseudonymizer.reveal(values[2]) == "b"
    assert frame["resident"].tolist()[0] == "a"
    assert result["visits"].tolist() == [1, 2, 3, 4]


def test_column_with_nullable_integers() -> None:
    # Prepare
    frame = pd.DataFrame({"id": pd.array([7, None, 9], dtype="Int64")})
    pseudonymizer = KeyedHashPseudonymizer(HMAC_KEY)

    # Act
    result = pseudonymizer.pseudonymize_column(frame, "id")

    # Assert
    assert result["id"].tolist()[0] == pseudonymizer.pseudonymize(7)
    assert pd.isna(result["id"].tolist()[1])


def test_column_of_floats_is_refused_with_its_row() -> None:
    # Prepare: integer ids turned into floats by a missing value.
    frame = pd.DataFrame({"id": ["x", "y", 3.0]}, dtype=object)

    # Act
    with pytest.raises(PseudonymError) as caught:
        KeyedHashPseudonymizer(HMAC_KEY).pseudonymize_column(frame, "id")

    # Assert
    assert caught.value.where == "column 'id', row 2"
    assert "3.0" not in str(caught.value)


def test_missing_column() -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="'ssn'"):
        KeyedHashPseudonymizer(HMAC_KEY).pseudonymize_column(
            pd.DataFrame({"id": [1]}), "ssn"
        )


@pytest.mark.parametrize(
    ("mode", "length", "rule"),
    [
        (PseudonymMode.KEYED_HASH, 16, "at least 32 bytes"),
        (PseudonymMode.SIV, 32, "exactly 64 bytes"),
        (PseudonymMode.SIV, 65, "exactly 64 bytes"),
    ],
)
def test_key_lengths_are_validated(mode: PseudonymMode, length: int, rule: str) -> None:
    # Act
    with pytest.raises(KeyMaterialError, match=rule) as caught:
        PseudonymKey(HEALTH, 3, mode, b"k" * length)

    # Assert
    assert caught.value.source == f"health-site-1/{mode.value}/3"


@pytest.mark.parametrize(
    ("department", "epoch"), [("", 1), ("a/b", 1), (HEALTH, -1), (HEALTH, True)]
)
def test_key_fields_are_validated(department: str, epoch: int) -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError):
        PseudonymKey(
            DepartmentId(department), epoch, PseudonymMode.KEYED_HASH, b"k" * 32
        )


def test_key_repr_hides_the_secret() -> None:
    # Assert
    assert "\\x01" not in repr(HMAC_KEY)
    assert "01010101" not in repr(HMAC_KEY)


def test_wrong_mode_key_is_refused() -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="aes-siv keys"):
        ReversiblePseudonymizer(HMAC_KEY)


def test_retired_keys_must_be_older_distinct_and_same_department() -> None:
    # Prepare
    newer = PseudonymKey(HEALTH, 5, PseudonymMode.SIV, b"n" * 64)
    foreign = PseudonymKey(HOUSING, 0, PseudonymMode.SIV, b"f" * 64)
    twin = PseudonymKey(HEALTH, 1, PseudonymMode.SIV, b"t" * 64)

    # Act / Assert
    for retired, message in [
        (newer, "newer"),
        (foreign, "another department"),
        (twin, "two keys"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            ReversiblePseudonymizer(SIV_KEY, retired=[retired])


def test_siv_rotation_reencrypts_and_old_key_still_reveals() -> None:
    # Prepare
    new_key = PseudonymKey.generate(HEALTH, epoch=2, mode=PseudonymMode.SIV)
    old = ReversiblePseudonymizer(SIV_KEY)
    holder = ReversiblePseudonymizer(new_key, retired=[SIV_KEY])
    node = ReversiblePseudonymizer(new_key)
    stored = old.pseudonymize("resident-42")

    # Act
    rotated = holder.repseudonymize(stored)

    # Assert
    assert rotated.startswith("s2.")
    assert rotated == node.pseudonymize("resident-42")
    assert holder.reveal(stored) == holder.reveal(rotated) == "resident-42"
    with pytest.raises(PseudonymError, match="epoch 1") as caught:
        node.reveal(stored)
    assert "resident-42" not in str(caught.value)


def test_hmac_rotation_map_from_source_identifiers() -> None:
    # Prepare
    new_key = PseudonymKey.generate(HEALTH, epoch=2, mode=PseudonymMode.KEYED_HASH)
    old = KeyedHashPseudonymizer(HMAC_KEY)
    rotating = KeyedHashPseudonymizer(new_key, retired=[HMAC_KEY])
    stored = pd.Series(old.pseudonymize_many(["a", "b", "a"]))

    # Act
    mapping = rotating.rotation_map(["a", "b"], from_epoch=1)
    moved = stored.map(mapping)

    # Assert
    assert moved.tolist() == rotating.pseudonymize_many(["a", "b", "a"])
    assert all(rotating.epoch_of(p) == 2 for p in moved)
    with pytest.raises(PseudonymError, match="epoch 1"):
        KeyedHashPseudonymizer(new_key).rotation_map(["a"], from_epoch=1)


def test_siv_pseudonym_cannot_be_moved_to_another_epoch_or_department() -> None:
    # Prepare: same secret under another key id.
    pseudonym = ReversiblePseudonymizer(SIV_KEY).pseudonymize("resident-42")
    same_secret_epoch_2 = PseudonymKey(HEALTH, 2, PseudonymMode.SIV, SIV_KEY.secret)
    same_secret_housing = PseudonymKey(HOUSING, 1, PseudonymMode.SIV, SIV_KEY.secret)
    relabelled = "s2." + pseudonym.partition(".")[2]

    # Act / Assert
    with pytest.raises(PseudonymError, match="authentication failed"):
        ReversiblePseudonymizer(same_secret_epoch_2).reveal(relabelled)
    with pytest.raises(PseudonymError, match="authentication failed"):
        ReversiblePseudonymizer(same_secret_housing).reveal(pseudonym)


@settings(max_examples=60, deadline=None)
@given(
    position=st.integers(min_value=0),
    flip=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"),
)
def test_altered_siv_pseudonym_fails(position: int, flip: str) -> None:
    # Prepare
    pseudonymizer = ReversiblePseudonymizer(SIV_KEY)
    pseudonym = pseudonymizer.pseudonymize("resident-42")
    index = 3 + position % (len(pseudonym) - 3)
    altered = pseudonym[:index] + flip + pseudonym[index + 1 :]

    # Act / Assert
    if altered == pseudonym:
        assert pseudonymizer.reveal(altered) == "resident-42"
    else:
        with pytest.raises(PseudonymError):
            pseudonymizer.reveal(altered)


@pytest.mark.parametrize(
    "text",
    ["h1.abc", "s", "sx.aaaa", "s1.!!!!", "s1.aaaa", "s\u0661.aa", "s1.AAAAAAAA"],
)
def test_malformed_pseudonyms(text: str) -> None:
    # Act / Assert
    with pytest.raises(PseudonymError, match="pseudonym"):
        ReversiblePseudonymizer(SIV_KEY).reveal(text)


def test_key_ring_round_trips_through_a_sealed_envelope() -> None:
    # Prepare
    ring = [
        HMAC_KEY,
        SIV_KEY,
        PseudonymKey.generate(HOUSING, epoch=4, mode=PseudonymMode.SIV),
    ]
    at_rest = AtRestKey.generate()

    # Act
    blob = seal(dump_keys(ring), key=at_rest, purpose="pseudonym-keys:health-site-1")
    restored = load_keys(
        open_sealed(blob, keys=at_rest, purpose="pseudonym-keys:health-site-1")
    )

    # Assert
    assert list(restored) == ring
    assert [k.fingerprint for k in restored] == [k.fingerprint for k in ring]


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"{}",
        b'{"format": "fedgov-pseudonym-keys", "version": 1, "keys": [{}]}',
        b"\xff",
    ],
)
def test_malformed_key_ring(data: bytes) -> None:
    # Act / Assert
    with pytest.raises(KeyMaterialError, match="key ring"):
        load_keys(data)
