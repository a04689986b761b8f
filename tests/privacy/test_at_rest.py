"""Tests of privacy.at_rest: AES-256-GCM envelopes, key sources, atomic files."""

from __future__ import annotations

import base64
import stat
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgov.errors import ConfigurationError
from privacy.at_rest import (
    AtRestKey,
    EnvKeySource,
    InsecurePlaintext,
    InsecurePlaintextWarning,
    KeyFileSource,
    PassphraseKeySource,
    SealingCodec,
    _gcm_decrypt,
    _gcm_encrypt,
    _scrypt,
    open_sealed,
    read_encrypted,
    rotate_file,
    seal,
    write_encrypted,
)
from privacy.errors import IntegrityError, KeyMaterialError, UnknownKeyError

if TYPE_CHECKING:
    from pathlib import Path

KEY = AtRestKey(bytes(range(32)))
OTHER_KEY = AtRestKey(bytes(range(1, 33)))
PURPOSE = "budget-ledger:health-site-1"

# The GCM specification's test case 16 (AES-256, 96-bit IV, with AAD).
GCM_KEY = bytes.fromhex(
    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
)
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_PT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_CT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
GCM_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")


def test_gcm_primitive_matches_the_published_vector() -> None:
    # Act
    ciphertext, tag = _gcm_encrypt(GCM_KEY, GCM_IV, GCM_AAD, GCM_PT)

    # Assert
    assert (ciphertext, tag) == (GCM_CT, GCM_TAG)
    assert _gcm_decrypt(GCM_KEY, GCM_IV, GCM_AAD, GCM_CT, GCM_TAG) == GCM_PT


def test_scrypt_matches_rfc_7914_vector() -> None:
    # Act: RFC 7914 section 12, third vector; a 32-byte key is its prefix.
    derived = _scrypt(b"pleaseletmein", b"SodiumChloride", n=16384)

    # Assert
    assert (
        derived.hex()
        == "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
    )


@settings(max_examples=50, deadline=None)
@given(
    data=st.binary(max_size=4096),
    purpose=st.text(alphabet="abcz:-_/0129", min_size=1, max_size=40),
)
def test_seal_open_round_trip(data: bytes, purpose: str) -> None:
    # Act
    blob = seal(data, key=KEY, purpose=purpose)

    # Assert
    assert open_sealed(blob, keys=KEY, purpose=purpose) == data
    assert data not in blob[16:] or len(data) < 8


def test_seal_uses_a_fresh_nonce_each_time() -> None:
    # Act
    first, second = (
        seal(b"same", key=KEY, purpose=PURPOSE),
        seal(b"same", key=KEY, purpose=PURPOSE),
    )

    # Assert
    assert first != second


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_is_detected(position: int, bit: int) -> None:
    # Prepare
    blob = bytearray(seal(b"spent epsilon 1.25", key=KEY, purpose=PURPOSE))
    blob[position % len(blob)] ^= 1 << bit

    # Act / Assert
    with pytest.raises(IntegrityError):
        open_sealed(bytes(blob), keys=KEY, purpose=PURPOSE)


@pytest.mark.parametrize("cut", [1, 5, 16, 30, 60])
def test_truncation_is_detected(cut: int) -> None:
    # Prepare
    blob = seal(b"x" * 40, key=KEY, purpose=PURPOSE)

    # Act / Assert
    with pytest.raises(IntegrityError):
        open_sealed(blob[:-cut], keys=KEY, purpose=PURPOSE)


def test_wrong_purpose_is_refused_and_named() -> None:
    # Prepare: a checkpoint presented as the ledger.
    blob = seal(b"weights", key=KEY, purpose="checkpoint:round-3")

    # Act
    with pytest.raises(IntegrityError) as caught:
        open_sealed(blob, keys=KEY, purpose=PURPOSE, origin="/runs/ledger.bin")

    # Assert
    assert caught.value.origin == "/runs/ledger.bin"
    assert "/runs/ledger.bin" in str(caught.value)
    assert PURPOSE in str(caught.value)


def test_wrong_key_names_the_key_ids() -> None:
    # Prepare
    blob = seal(b"data", key=KEY, purpose=PURPOSE)

    # Act
    with pytest.raises(UnknownKeyError) as caught:
        open_sealed(blob, keys=OTHER_KEY, purpose=PURPOSE)

    # Assert
    assert caught.value.key_id == KEY.key_id
    assert caught.value.available == (OTHER_KEY.key_id,)
    assert isinstance(caught.value, IntegrityError)


def test_forged_key_id_with_wrong_key_fails_authentication() -> None:
    # Prepare: an attacker's key relabelled with the victim's key id.
    blob = seal(b"data", key=OTHER_KEY, purpose=PURPOSE)
    forged = blob.replace(OTHER_KEY.key_id.encode(), KEY.key_id.encode())

    # Act / Assert
    with pytest.raises(IntegrityError, match="authentication failed"):
        open_sealed(forged, keys=KEY, purpose=PURPOSE)


def test_not_an_envelope() -> None:
    # Act / Assert
    with pytest.raises(IntegrityError, match="bad magic"):
        open_sealed(b'{"json": true}', keys=KEY, purpose=PURPOSE)


def test_retired_key_opens_old_envelopes() -> None:
    # Prepare
    blob = seal(b"old", key=OTHER_KEY, purpose=PURPOSE)

    # Act
    data = open_sealed(blob, keys=[KEY, OTHER_KEY], purpose=PURPOSE)

    # Assert
    assert data == b"old"


@pytest.mark.parametrize(
    "purpose",
    ["", "x" * 257, "caf\u00e9", "line\nbreak"],
    ids=["empty", "long", "utf8", "newline"],
)
def test_invalid_purpose(purpose: str) -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="purpose"):
        seal(b"", key=KEY, purpose=purpose)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_length_is_checked(length: int) -> None:
    # Act / Assert
    with pytest.raises(KeyMaterialError, match="exactly 32 bytes"):
        AtRestKey(b"k" * length)


def test_key_repr_hides_the_secret() -> None:
    # Assert
    assert bytes(range(32)).hex() not in repr(KEY)
    assert repr(bytes(range(32))) not in repr(KEY)
    assert KEY.key_id in repr(KEY)


# -- key sources -------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        bytes.hex,
        lambda b: base64.b64encode(b).decode(),
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
        lambda b: "hex:" + b.hex().upper(),
        lambda b: "base64:" + base64.b64encode(b).decode() + "\n",
    ],
    ids=["hex", "base64", "urlsafe-unpadded", "hex-prefixed", "base64-prefixed"],
)
def test_env_source_decodes_hex_and_base64(encode: object) -> None:
    # Prepare
    assert callable(encode)
    source = EnvKeySource("FEDGOV_KEY", environ={"FEDGOV_KEY": encode(KEY.secret)})

    # Act
    loaded = source.load()

    # Assert
    assert loaded == KEY


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "not set"),
        ({"FEDGOV_KEY": "#" * 44}, "not valid base64"),
        ({"FEDGOV_KEY": "ab" * 16}, "exactly 32 bytes"),
        ({"FEDGOV_KEY": "  "}, "empty"),
    ],
    ids=["unset", "garbage", "short", "blank"],
)
def test_env_source_errors_name_the_variable(
    environ: dict[str, str], message: str
) -> None:
    # Prepare
    source = EnvKeySource("FEDGOV_KEY", environ=environ)

    # Act
    with pytest.raises(KeyMaterialError, match=message) as caught:
        source.load()

    # Assert
    assert "FEDGOV_KEY" in str(caught.value)


def test_key_file_created_owner_only_and_loads(tmp_path: Path) -> None:
    # Act
    source = KeyFileSource.create(tmp_path / "node.key")
    first, second = source.load(), KeyFileSource(tmp_path / "node.key").load()

    # Assert
    assert stat.S_IMODE((tmp_path / "node.key").stat().st_mode) == 0o600
    assert first == second


def test_key_file_create_never_overwrites(tmp_path: Path) -> None:
    # Prepare
    KeyFileSource.create(tmp_path / "node.key")

    # Act / Assert
    with pytest.raises(KeyMaterialError, match="already exists"):
        KeyFileSource.create(tmp_path / "node.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    # Prepare
    path = tmp_path / "node.key"
    path.write_text(KEY.secret.hex())
    path.chmod(mode)

    # Act
    with pytest.raises(KeyMaterialError, match="chmod 600") as caught:
        KeyFileSource(path).load()

    # Assert
    assert str(path) in str(caught.value)
    assert f"{mode:04o}" in str(caught.value)


def test_key_file_read_only_owner_is_accepted(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "node.key"
    path.write_text(base64.b64encode(KEY.secret).decode())
    path.chmod(0o400)

    # Act / Assert
    assert KeyFileSource(path).load() == KEY


def test_key_file_missing_or_directory(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(KeyMaterialError, match="cannot be opened"):
        KeyFileSource(tmp_path / "absent.key").load()
    with pytest.raises(KeyMaterialError, match="regular file"):
        KeyFileSource(tmp_path).load()


SALT = bytes(range(16))


def test_passphrase_source_is_deterministic_and_salted() -> None:
    # Prepare
    phrase = "correct horse battery staple"

    # Act
    first = PassphraseKeySource(phrase, salt=SALT, cost=2**14).load()
    again = PassphraseKeySource.from_env(
        "PHRASE", salt=SALT, cost=2**14, environ={"PHRASE": phrase}
    ).load()
    other_salt = PassphraseKeySource(phrase, salt=bytes(16), cost=2**14).load()

    # Assert
    assert first == again
    assert first != other_salt
    assert first.secret == _scrypt(phrase.encode(), SALT, n=2**14)


def test_passphrase_source_validation() -> None:
    # Act / Assert
    with pytest.raises(KeyMaterialError, match="at least 12"):
        PassphraseKeySource("short", salt=SALT)
    with pytest.raises(ConfigurationError, match="salt"):
        PassphraseKeySource("long enough phrase", salt=b"salty")
    with pytest.raises(ConfigurationError, match="cost"):
        PassphraseKeySource("long enough phrase", salt=SALT, cost=3 * 2**14)
    with pytest.raises(KeyMaterialError, match="PHRASE"):
        PassphraseKeySource.from_env("PHRASE", salt=SALT, environ={})
    assert "long enough" not in repr(
        PassphraseKeySource("long enough phrase", salt=SALT)
    )


# -- files -------------------------------------------------------------------------


def test_write_read_file_round_trip(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.sealed"

    # Act
    write_encrypted(path, b"ledger bytes", key_source=KEY, purpose=PURPOSE)

    # Assert
    assert read_encrypted(path, key_source=KEY, purpose=PURPOSE) == b"ledger bytes"
    assert b"ledger bytes" not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.sealed"]


def test_file_swap_is_refused_naming_the_file(tmp_path: Path) -> None:
    # Prepare: a checkpoint copied over the ledger.
    ledger, checkpoint = tmp_path / "ledger.sealed", tmp_path / "model.sealed"
    write_encrypted(checkpoint, b"weights", key_source=KEY, purpose="checkpoint")
    ledger.write_bytes(checkpoint.read_bytes())

    # Act
    with pytest.raises(IntegrityError) as caught:
        read_encrypted(ledger, key_source=KEY, purpose=PURPOSE)

    # Assert
    assert caught.value.origin == str(ledger)


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.sealed"
    write_encrypted(path, b"v1", key_source=KEY, purpose=PURPOSE)
    before = path.read_bytes()

    # Act: an unusable key source fails before anything is written.
    with pytest.raises(KeyMaterialError):
        write_encrypted(
            path, b"v2", key_source=EnvKeySource("X", environ={}), purpose=PURPOSE
        )

    # Assert
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.sealed"]


def test_plaintext_mode_warns_and_round_trips(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.json"

    # Act
    with pytest.warns(InsecurePlaintextWarning):
        source = InsecurePlaintext()
    with pytest.warns(InsecurePlaintextWarning, match="without encryption"):
        write_encrypted(path, b"visible", key_source=source, purpose=PURPOSE)
    with pytest.warns(InsecurePlaintextWarning):
        data = read_encrypted(path, key_source=source, purpose=PURPOSE)

    # Assert
    assert data == b"visible"
    assert b"visible" in path.read_bytes()


def test_plaintext_file_is_refused_when_a_key_is_configured(tmp_path: Path) -> None:
    # Prepare: a downgrade, a plaintext file put where a sealed one belongs.
    path = tmp_path / "ledger.sealed"
    with pytest.warns(InsecurePlaintextWarning):
        write_encrypted(
            path, b"forged", key_source=InsecurePlaintext(), purpose=PURPOSE
        )

    # Act / Assert
    with pytest.raises(IntegrityError, match="downgrade"):
        read_encrypted(path, key_source=KEY, purpose=PURPOSE)


def test_plaintext_mode_cannot_read_a_sealed_file(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.sealed"
    write_encrypted(path, b"secret", key_source=KEY, purpose=PURPOSE)

    # Act / Assert
    with (
        pytest.warns(InsecurePlaintextWarning),
        pytest.raises(KeyMaterialError, match="encrypted"),
    ):
        read_encrypted(path, key_source=InsecurePlaintext(), purpose=PURPOSE)


def test_plaintext_checksum_catches_corruption(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.json"
    with pytest.warns(InsecurePlaintextWarning):
        source = InsecurePlaintext()
    with pytest.warns(InsecurePlaintextWarning):
        write_encrypted(path, b"123", key_source=source, purpose=PURPOSE)
    path.write_bytes(path.read_bytes()[:-1] + b"4")

    # Act / Assert
    with (
        pytest.warns(InsecurePlaintextWarning),
        pytest.raises(IntegrityError, match="checksum"),
    ):
        read_encrypted(path, key_source=source, purpose=PURPOSE)


def test_rotate_file_moves_to_the_new_key(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger.sealed"
    write_encrypted(path, b"history", key_source=OTHER_KEY, purpose=PURPOSE)

    # Act
    rotate_file(path, new=KEY, old=[OTHER_KEY], purpose=PURPOSE)

    # Assert
    assert read_encrypted(path, key_source=KEY, purpose=PURPOSE) == b"history"
    with pytest.raises(UnknownKeyError):
        read_encrypted(path, key_source=OTHER_KEY, purpose=PURPOSE)


def test_rotate_file_migrates_plaintext_to_sealed(tmp_path: Path) -> None:
    # Prepare
    path = tmp_path / "ledger"
    with pytest.warns(InsecurePlaintextWarning):
        plain = InsecurePlaintext()
    with pytest.warns(InsecurePlaintextWarning):
        write_encrypted(path, b"history", key_source=plain, purpose=PURPOSE)

    # Act
    with pytest.warns(InsecurePlaintextWarning, match="reading"):
        rotate_file(path, new=KEY, old=[plain], purpose=PURPOSE)

    # Assert
    assert b"history" not in path.read_bytes()
    assert read_encrypted(path, key_source=KEY, purpose=PURPOSE) == b"history"


def test_codec_serves_as_ledger_codec(tmp_path: Path) -> None:
    # Prepare
    key_file = KeyFileSource.create(tmp_path / "k")
    codec = SealingCodec(key_file, purpose=PURPOSE, origin="ledger of health-site-1")

    # Act
    stored = codec.seal(b"{}")

    # Assert
    assert codec.open(stored) == b"{}"
    assert codec.key_id == key_file.load().key_id
    with pytest.raises(IntegrityError, match="ledger of health-site-1"):
        codec.open(stored[:-1])


def test_env_source_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Prepare
    monkeypatch.setenv("FEDGOV_TEST_AT_REST_KEY", KEY.secret.hex())

    # Act / Assert
    assert EnvKeySource("FEDGOV_TEST_AT_REST_KEY").load() == KEY
