"""What the launcher hands Flower, read back by flwr 1.42's own parsers."""

from __future__ import annotations

import io
import shutil
import tomllib
import zipfile
from pathlib import Path

import pytest
from flwr.cli.build import build_fab_from_disk
from flwr.cli.flower_config import read_superlink_connection
from flwr.common.config import parse_config_args
from flwr.common.constant import FAB_MAX_SIZE
from flwr.superlink.cli.flower_superlink import _parse_args_run_superlink
from flwr.supernode.cli.flower_supernode import _parse_args_run_supernode
from hypothesis import given
from hypothesis import strategies as st

from coordinator.analytics import RUN_CONFIG_QUERY
from coordinator.query_service import RUN_CONFIG_SERVICE
from fedgov.engines._deployment_flower import (
    APP_DIR,
    CONNECTION,
    TlsFiles,
    flower_environment,
    node_config_string,
    online_node_count,
    packed_into_app,
    parse_run_id,
    run_command,
    run_entry,
    superlink_command,
    supernode_command,
    toml_value,
    write_flower_config,
    write_run_config,
)
from fedgov.errors import ConfigurationError
from fedgov.job import TrainJob


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    # Only their existence is checked here; test_launcher_tls starts a real TLS link.
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    return TlsFiles(tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem")


def test_flower_reads_the_insecure_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare
    write_flower_config(tmp_path, address="127.0.0.1:4321", tls=None)
    monkeypatch.setenv("FLWR_HOME", str(tmp_path))

    # Execute
    connection = read_superlink_connection(None)

    # Assert
    assert connection.name == CONNECTION
    assert connection.address == "127.0.0.1:4321"
    assert connection.insecure is True
    assert connection.root_certificates is None


def test_flower_reads_the_tls_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls_files: TlsFiles
) -> None:
    # Prepare
    home = tmp_path / "home"
    write_flower_config(home, address="127.0.0.1:4321", tls=tls_files)
    monkeypatch.setenv("FLWR_HOME", str(home))

    # Execute
    connection = read_superlink_connection(CONNECTION)

    # Assert
    assert connection.insecure is False
    assert connection.root_certificates == str(tls_files.ca_certfile)


def test_run_config_file_round_trips_a_job(tmp_path: Path) -> None:
    # Prepare
    job = TrainJob(
        # An id names a folder; free text that TOML must quote is the purpose.
        job_id="county-7.job",
        purpose='county 7\'s "job"',
        epsilon=None,
        hidden="64,32",
        delta=1e-7,
        run_dir=str(tmp_path / "runs" / "x"),
    )

    # Execute
    path = write_run_config(tmp_path / "run_config.toml", job.to_run_config())
    parsed = parse_config_args([str(path)])

    # Assert
    assert parsed == job.to_run_config()
    assert TrainJob.from_run_config(parsed) == job


def test_every_run_config_key_is_declared_in_the_app() -> None:
    # Prepare: flwr refuses to override a key the app's pyproject does not declare.
    with (APP_DIR / "pyproject.toml").open("rb") as handle:
        declared = tomllib.load(handle)["tool"]["flwr"]["app"]["config"]

    # Execute
    sent = TrainJob().to_run_config()

    # Assert: the job's keys, a one-query run's and a standing query run's
    assert set(sent) | {RUN_CONFIG_QUERY, RUN_CONFIG_SERVICE} <= set(declared)


@given(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False),
        st.text(),
    )
)
def test_toml_value_round_trips(value: bool | int | float | str) -> None:
    # Execute
    parsed = tomllib.loads(f"key = {toml_value(value)}")["key"]

    # Assert
    assert parsed == value
    assert type(parsed) is type(value)


def test_node_config_reaches_the_node_unchanged() -> None:
    # Prepare
    config: dict[str, str | int | float | bool] = {
        "department": "Health Dept. (north)",
        "state-dir": "/srv/fedgov state",
        "allow-non-private": True,
        "budget-epsilon": 4.5,
    }

    # Execute
    text = node_config_string(config)

    # Assert: the SuperNode parses --node-config with this very function.
    assert parse_config_args([text]) == config


@pytest.mark.parametrize("bad", ["o'brien", "two\nlines"])
def test_node_config_refuses_what_flower_cannot_quote(bad: str) -> None:
    with pytest.raises(ConfigurationError, match=r"node_config\[department\]"):
        node_config_string({"department": bad})


def test_superlink_flags_parse_in_this_flower(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    # Prepare
    insecure = superlink_command(port=9100, database=tmp_path / "s.db", tls=None)
    secure = superlink_command(port=9100, database=tmp_path / "s.db", tls=tls_files)

    # Execute
    plain = _parse_args_run_superlink().parse_args(insecure[1:])
    tls = _parse_args_run_superlink().parse_args(secure[1:])

    # Assert
    assert (plain.host, plain.port, plain.database) == (
        "127.0.0.1",
        9100,
        str(tmp_path / "s.db"),
    )
    assert plain.insecure is True
    assert plain.runtime_dependency_install is False
    assert tls.insecure is False
    assert tls.runtime_dependency_install is False
    assert tls.ssl_certfile == str(tls_files.certfile)


def test_supernode_flags_parse_in_this_flower(tls_files: TlsFiles) -> None:
    # Prepare
    argv = supernode_command(
        superlink_address="127.0.0.1:9100",
        port=9200,
        node_config={"department": "parks", "state-dir": "/tmp/s"},
        tls=tls_files,
    )

    # Execute
    args = _parse_args_run_supernode().parse_args(argv[argv.index("--superlink") :])

    # Assert
    assert args.superlink == "127.0.0.1:9100"
    assert args.port == 9200
    assert args.insecure is False
    assert args.root_certificates == str(tls_files.ca_certfile)
    assert parse_config_args([args.node_config]) == {
        "department": "parks",
        "state-dir": "/tmp/s",
    }


def test_environment_finds_flower_executables_and_disables_installs(
    tmp_path: Path,
) -> None:
    # Execute
    env = flower_environment(
        {"PATH": "/usr/bin"}, flwr_home=tmp_path, ray_tmpdir=tmp_path
    )

    # Assert
    for executable in ("flower-superexec", "flwr-serverapp", "flwr-clientapp", "flwr"):
        assert shutil.which(executable, path=env["PATH"]), executable
    assert env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    assert env["FLWR_TELEMETRY_ENABLED"] == "0"
    assert env["FLWR_HOME"] == str(tmp_path)
    assert env["HF_HUB_OFFLINE"] == "1"


def test_the_app_bundle_holds_only_the_app() -> None:
    # Execute: what `flwr run <repo root>` uploads.
    fab = build_fab_from_disk(APP_DIR)
    assert len(fab) < FAB_MAX_SIZE
    names = zipfile.ZipFile(io.BytesIO(fab)).namelist()

    # Assert
    top = {name.split("/", 1)[0] for name in names}
    assert "coordinator/server_app.py" in names
    assert "department_nodes/client_app.py" in names
    assert not top & {".venv", "runs", ".tools", ".git", "outputs", ".flwr", "build"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not top & {"auditor", "experiments", "tests", "docs", "reports"}
    # The apps' code alone (stored uncompressed; 1.8 MB): a bundle this size
    # or more has picked up data or another actor's code.
    assert len(fab) < 2_000_000


def test_cli_outputs_are_parsed() -> None:
    # Prepare
    started = (
        "Using SuperLink: fedgov-local\nSuccessfully started run 1100302026808968\n"
    )
    nodes = (
        'warning: something\n{"success": true, "nodes": ['
        '{"node-id": "1", "status": "online"}, {"node-id": "2", "status": "offline"},'
        '{"node-id": "3", "status": "online"}]}'
    )
    runs = (
        '{"success": true, "runs": [{"run-id": "5", "status": "finished:completed"}]}'
    )

    # Execute / Assert
    assert parse_run_id(started) == 1100302026808968
    assert parse_run_id("Using SuperLink") is None
    assert online_node_count(nodes) == 2
    assert online_node_count("not json") == 0
    assert run_entry(runs) == {"run-id": "5", "status": "finished:completed"}
    assert run_entry("{}") == {}
    assert run_command(app_dir=APP_DIR, run_config=Path("c.toml"))[-1] == "--stream"


def test_only_ignored_folders_of_the_app_stay_out_of_its_bundle(tmp_path: Path) -> None:
    # Prepare
    (tmp_path / ".gitignore").write_text("runs/\n.venv/\n")

    # Execute / Assert
    assert not packed_into_app(tmp_path, tmp_path / "runs" / "job-1")
    assert packed_into_app(tmp_path, tmp_path / "my-runs" / "job-1")
    assert not packed_into_app(tmp_path, tmp_path.parent / "elsewhere")
    assert not packed_into_app(APP_DIR, APP_DIR / "runs" / "job")
