"""The audit log command line: info, export, verify, and a served process."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from eth_account import Account

from fedgov.errors import ConfigurationError
from ledger.client import LogClient
from ledger.errors import LogIntegrityError
from ledger.log_cli import configure
from ledger.store import LogStore
from ledger.transport import InsecureTransportWarning
from ledger.tree_head import recover_signer
from tests.ledger._log_fixtures import ACTOR, DOMAIN, make_record

REPO = Path(__file__).parents[2]
SIGNED_SERVE = [
    *("serve", "--log", "{store}", "--insecure", "--key-file", "k.json"),
    *("--chain-id", "5", "--registry", "0x" + "ab" * 20),
]


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    with LogStore(path, actor=ACTOR.address) as store:
        store.append_many(make_record(i) for i in range(6))
        store.sign_head(ACTOR, DOMAIN)
    return path


def test_info_export_verify(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    out = tmp_path / "log.jsonl"
    domain = [
        "--chain-id",
        str(DOMAIN.chain_id),
        "--registry",
        DOMAIN.verifying_contract,
    ]

    # Execute
    codes = [
        _run("info", str(store_path)),
        _run("export", str(store_path), str(out)),
        _run("verify", str(out), *domain),
    ]

    # Assert
    printed = capsys.readouterr().out
    assert codes == [0, 0, 0]
    assert f"actor     {ACTOR.address}" in printed
    assert "6 records, 1 signed heads" in printed
    assert "OK " in printed
    assert "latest at size 6" in printed


def test_verify_fails_for_another_domain(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    _run("export", str(store_path), str(out))

    with pytest.raises(LogIntegrityError, match="was signed for"):
        _run(
            "verify",
            str(out),
            "--chain-id",
            "1",
            "--registry",
            DOMAIN.verifying_contract,
        )


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["info", "absent.db"], "does not exist"),
        (["serve", "--log", "absent.db", "--insecure"], "does not exist"),
        (["serve", "--log", "{store}", "--tls-cert", "c.pem"], "--tls-key"),
        (
            ["serve", "--log", "{store}", "--key-file", "k.json", "--insecure"],
            "--chain-id",
        ),
        (["serve", "--log", "{store}"], "insecure=True"),
        (
            [*SIGNED_SERVE, "--password-env", "FEDGOV_TEST_UNSET_PASSWORD"],
            "FEDGOV_TEST_UNSET_PASSWORD is not set",
        ),
        (["verify", "x.jsonl", "--chain-id", "5"], "--registry"),
    ],
)
def test_bad_arguments_are_configuration_errors(
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    match: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = [arg.replace("{store}", str(store_path)) for arg in argv]

    with pytest.raises(ConfigurationError, match=match):
        _run(*argv)


def test_served_log_signs_with_the_key_file(store_path: Path, tmp_path: Path) -> None:
    # Prepare: the actor's keystore, and a server process on a free port.
    key_file = tmp_path / "key.json"
    keystore = Account.encrypt(ACTOR.key, "pw", kdf="pbkdf2", iterations=1000)
    key_file.write_text(json.dumps(keystore))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fedgov",
            "ledger",
            "log",
            "serve",
            "--log",
            str(store_path),
            "--address",
            "127.0.0.1:0",
            "--insecure",
            "--key-file",
            str(key_file),
            "--chain-id",
            str(DOMAIN.chain_id),
            "--registry",
            DOMAIN.verifying_contract,
        ],
        cwd=REPO,
        env={**os.environ, "FEDGOV_KEY_PASSWORD": "pw"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        target = server.stdout.readline().split()[0]

        # Execute
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureTransportWarning)
            client = LogClient(target, insecure=True, timeout_s=10)
        with client:
            log_id = client.log_info(LogStore(store_path).log_id).log_id
            client.append(log_id, [make_record(6)])
            signed = client.sign_tree_head(log_id)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)

    # Assert
    assert server.returncode == 0
    assert signed.head.tree_size == 7
    assert recover_signer(signed, DOMAIN) == ACTOR.address
