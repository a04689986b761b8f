"""``fedgov portal``: flags into settings, tokens, the warning without HTTPS."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from fedgov.cli import main
from fedgov.errors import ConfigurationError
from fedgov.portal import app
from fedgov.portal.cli import InsecurePortalWarning, configure, settings_from_args
from fedgov.portal.security import Auditors
from fedgov.portal.settings import PortalSettings

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(["serve", *argv])


def test_flags_become_typed_settings(tmp_path: Path) -> None:
    # Execute
    settings = settings_from_args(
        _args(
            "--rpc-url",
            "http://127.0.0.1:8545",
            "--state-dir",
            str(tmp_path / "a"),
            "--state-dir",
            str(tmp_path / "b"),
            "--registry",
            ADDRESS.lower(),
            "--consultation",
            ADDRESS,
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
            "--relayer-key-file",
            "relayer.json",
            "--registrar-roll",
            "roll.json",
            "--registrar-credential-key",
            "key.pem",
            "--registrar-key-file",
            "registrar.json",
            "--origin",
            "https://portal.county.example",
        )
    )

    # Assert
    assert settings.state_dirs == (tmp_path / "a", tmp_path / "b")
    assert settings.registry == ADDRESS
    assert settings.tls
    assert settings.relayer is not None
    assert settings.relayer.path == Path("relayer.json")
    assert settings.registrar_desk is not None
    assert settings.registrar_desk.account.path == Path("registrar.json")
    assert settings.registrar_desk.credential_key == Path("key.pem")
    assert settings.extra_origins == ("https://portal.county.example",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "--rpc-url: required"),
        (("--rpc-url", "ftp://x"), "rpc_url: must be an http(s) URL"),
        (("--rpc-url", "http://x", "--registry", "0x12"), "registry: '0x12' is not"),
        (("--rpc-url", "http://x", "--tls-cert", "c.pem"), "give both the certificate"),
        (("--rpc-url", "http://x", "--port", "0"), "port: must be in 1..65535"),
        (("--rpc-url", "http://x", "--registrar-roll", "r"), "needs --registrar-roll"),
        (
            ("--rpc-url", "http://x", "--registrar-credential-key", "k"),
            "needs --registrar-roll",
        ),
        (("--rpc-url", "http://x", "--origin", "https://a/b"), "is not an origin"),
    ],
)
def test_bad_flags_are_named(
    argv: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    monkeypatch.delenv("FEDGOV_RPC_URL", raising=False)

    # Execute / Assert
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        settings_from_args(_args(*argv))


def test_a_desk_needs_the_consultation() -> None:
    # Execute / Assert
    with pytest.raises(
        ConfigurationError, match="registrar_desk: needs the Consultation"
    ):
        settings_from_args(
            _args(
                "--rpc-url",
                "http://x",
                "--registrar-roll",
                "r",
                "--registrar-credential-key",
                "k",
                "--registrar-key-file",
                "f",
            )
        )


def test_the_token_command_prints_a_token_once_and_stores_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    code = main(
        ["portal", "token", "--tokens", str(tmp_path / "tokens"), "--name", "ada"]
    )

    # Assert
    token = capsys.readouterr().out.splitlines()[-1]
    assert code == 0
    assert token not in (tmp_path / "tokens").read_text()
    assert Auditors(tmp_path / "tokens", tls=False).check_token(token) == "ada"


def test_serving_without_a_certificate_warns_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: stand-ins for the app and the server, so nothing listens.
    served: dict[str, Any] = {}
    monkeypatch.setattr(app, "create_app", lambda settings: settings)
    monkeypatch.setattr(
        uvicorn, "run", lambda target, **options: served.update(options)
    )

    # Execute
    with pytest.warns(InsecurePortalWarning, match="PLAIN HTTP"):
        code = main(
            [
                "portal",
                "serve",
                "--rpc-url",
                "http://127.0.0.1:8545",
                "--host",
                "0.0.0.0",
            ]
        )

    # Assert
    assert code == 0
    assert served["ssl_certfile"] is None
    assert served["host"] == "0.0.0.0"
    assert "fedgov portal at http://0.0.0.0:8443/" in capsys.readouterr().out


def test_the_app_refuses_to_start_without_its_built_scripts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Prepare
    monkeypatch.setattr(app, "BUNDLE_DIR", tmp_path)

    # Execute / Assert
    with pytest.raises(ConfigurationError, match="make portal-assets"):
        app.create_app(PortalSettings(rpc_url="http://127.0.0.1:1"))


def _county_file(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "keys").mkdir()
    (home / "county.toml").write_text(
        f"""format = "fedgov-county"
version = 1
county = "lakeview"

[chain]
chain_id = 31337
rpc_url = "http://127.0.0.1:9545"

[contracts]
roles = "{ADDRESS}"
anchor_registry = "{ADDRESS}"
consultation = "{ADDRESS}"

[accounts]
relayer = "keys/relayer.json"

[keys]
sealed = false

[paths]
state_dir = "state"
runs_dir = "runs"
auditor_dir = "auditor"
""",
        encoding="utf-8",
    )


def test_a_county_fills_in_what_the_flags_leave_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    home = tmp_path / "home"
    _county_file(home)
    monkeypatch.setenv("FEDGOV_HOME", str(home))
    monkeypatch.delenv("FEDGOV_RPC_URL", raising=False)
    monkeypatch.delenv("FEDGOV_CONSULTATION", raising=False)
    (home / "portal").mkdir()
    (home / "portal" / "auditor-tokens").write_text("", encoding="utf-8")

    # Execute
    settings = settings_from_args(_args())
    overridden = settings_from_args(
        _args("--state-dir", str(tmp_path / "other"), "--data-dir", str(tmp_path))
    )

    # Assert
    assert settings.rpc_url == "http://127.0.0.1:9545"
    assert settings.state_dirs == (home / "state",)
    assert settings.runs_dir == home / "runs"
    assert (settings.registry, settings.roles, settings.consultation) == (
        ADDRESS,
        ADDRESS,
        ADDRESS,
    )
    assert settings.data_dir == home / "portal"
    assert settings.auditor_tokens == home / "portal" / "auditor-tokens"
    assert overridden.state_dirs == (tmp_path / "other",)
    assert overridden.data_dir == tmp_path


def test_tokens_go_to_the_county_portal_or_need_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    monkeypatch.setenv("FEDGOV_HOME", str(tmp_path / "nowhere"))

    # Execute
    refused = main(["portal", "token", "--name", "ada"])
    refusal = capsys.readouterr().err
    home = tmp_path / "home"
    _county_file(home)
    monkeypatch.setenv("FEDGOV_HOME", str(home))
    made = main(["portal", "token", "--name", "ada"])

    # Assert
    assert refused != 0
    assert "--tokens: required when no county is installed" in refusal
    assert made == 0
    assert (home / "portal" / "auditor-tokens").read_text().startswith("ada ")
