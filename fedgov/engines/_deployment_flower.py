"""What the local launcher tells Flower: commands, environment, config files.

Pure functions over paths and values (the commands are only built here, the
launcher starts them), so each piece is testable without starting Flower.
The flags are those of flwr 1.42, where the SuperLink serves its Fleet,
Control and Runtime APIs over HTTP on one ``--host``/``--port``.
"""

from __future__ import annotations

import json
import math
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.cli.utils import filter_paths_for_publish

from fedgov.errors import ConfigurationError
from fedgov.files import private_dir
from fedgov.polling import POLL_ENV, POLL_SECONDS

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "APP_DIR",
    "CONNECTION",
    "TlsFiles",
    "flower_environment",
    "health_ok",
    "node_config_string",
    "online_node_count",
    "packed_into_app",
    "parse_run_id",
    "run_command",
    "run_entry",
    "run_list_command",
    "superlink_command",
    "supernode_command",
    "supernode_list_command",
    "toml_value",
    "write_flower_config",
    "write_run_config",
]

APP_DIR = Path(__file__).resolve().parents[2]
"""This repository: the Flower App (``[tool.flwr.app]`` in its ``pyproject.toml``)."""

CONNECTION = "fedgov-local"
"""The name of the SuperLink connection written to ``$FLWR_HOME/config.toml``."""

SUPEREXEC_POLL_ENV = "FLWR_SUPEREXEC_TASK_POLL_INTERVAL"
"""flwr's setting of how often a SuperExec looks for tasks (default 1 s)."""

_RUN_STARTED = re.compile(r"Successfully started run (\d+)")


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a TLS SuperLink: certificate, key, and the CA that signed them.

    The certificate must name the address the nodes dial (for the local
    launcher an IP SAN ``127.0.0.1``).
    """

    ca_certfile: Path
    certfile: Path
    keyfile: Path

    def __post_init__(self) -> None:
        for name in ("ca_certfile", "certfile", "keyfile"):
            path = Path(getattr(self, name))
            if not path.is_file():
                raise ConfigurationError(name, f"{path} is not a file")
            object.__setattr__(self, name, path.resolve())


def toml_value(value: bool | int | float | str) -> str:
    """``value`` as a TOML literal (a flat run_config or node_config value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    # A JSON string is a TOML basic string (same quotes, same escapes), except
    # that TOML also wants DEL escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def packed_into_app(app_dir: Path, folder: Path) -> bool:
    """Whether ``flwr run app_dir`` would pack Python files under ``folder``.

    It packs the app folder's ``.py``/``.toml``/``.json``/... files except
    what its ``.gitignore`` excludes; this asks flwr's own filter.
    """
    try:
        relative = folder.resolve().relative_to(app_dir.resolve())
    except ValueError:
        return False
    probe = (relative / "probe.py").as_posix()
    files: dict[str, Path | bytes] = {probe: b""}
    gitignore = app_dir / ".gitignore"
    if gitignore.is_file():
        files[".gitignore"] = gitignore.read_bytes()
    return probe in filter_paths_for_publish(files)


def write_run_config(
    path: Path, config: Mapping[str, bool | int | float | str]
) -> Path:
    """Write flat run_config keys as a TOML file (``flwr run --run-config FILE``).

    A file rather than ``key=value`` pairs on the command line: flwr splits
    those on spaces, so a value with a space would need quoting rules of its own.
    """
    lines = [f"{key} = {toml_value(value)}" for key, value in config.items()]
    private_dir(path.parent)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def node_config_string(config: Mapping[str, str | int | float | bool]) -> str:
    """A SuperNode ``--node-config`` value: ``key='text' key=1``.

    flwr splits it with a regular expression on spaces and quotes, so strings
    become TOML literal strings, which cannot hold a single quote or a newline.
    """
    parts = []
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            raise ConfigurationError(
                "node_config", f"key {key!r} must be [A-Za-z0-9_-]+"
            )
        if isinstance(value, str):
            if "'" in value or "\n" in value:
                raise ConfigurationError(
                    f"node_config[{key}]",
                    f"{value!r} must not contain a single quote or newline",
                )
            parts.append(f"{key}='{value}'")
        else:
            parts.append(f"{key}={toml_value(value)}")
    return " ".join(parts)


def write_flower_config(flwr_home: Path, *, address: str, tls: TlsFiles | None) -> Path:
    """Write ``$FLWR_HOME/config.toml`` with one SuperLink connection, the default."""
    lines = [
        "[superlink]",
        f"default = {toml_value(CONNECTION)}",
        "",
        f"[superlink.{CONNECTION}]",
        f"address = {toml_value(address)}",
    ]
    if tls is None:
        lines.append("insecure = true")
    else:
        lines.append(f"root-certificates = {toml_value(str(tls.ca_certfile))}")
    path = flwr_home / "config.toml"
    private_dir(flwr_home)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flower_environment(
    base: Mapping[str, str],
    *,
    flwr_home: Path,
    ray_tmpdir: Path,
    poll_seconds: float | None = POLL_SECONDS,
) -> dict[str, str]:
    """The environment of every Flower process of a local deployment.

    Flower finds ``flower-superexec``, ``flwr-serverapp`` and ``flwr-clientapp``
    on ``PATH``, so this interpreter's ``bin`` goes first. ``poll_seconds``
    is how often the SuperExecs look for tasks and fedgov's processes poll
    (:mod:`fedgov.polling`); ``None``: Flower's own pace (1 s and 3 s).
    """
    bin_dir = str(Path(sys.executable).parent)
    env = dict(base)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *([env["PATH"]] if env.get("PATH") else [])]
    )
    env.update(
        {
            "FLWR_HOME": str(flwr_home),
            # By default the SuperLink `uv sync`s the app's dependencies for
            # every run: that pulled gigabytes of CUDA torch. The app runs in
            # this environment, which already has them.
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "RAY_TMPDIR": str(ray_tmpdir),
            "RAY_USAGE_STATS_ENABLED": "0",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if poll_seconds is None:
        env[POLL_ENV] = "3"
        env.pop(SUPEREXEC_POLL_ENV, None)
    else:
        env[POLL_ENV] = repr(poll_seconds)
        env[SUPEREXEC_POLL_ENV] = repr(poll_seconds)
    return env


def superlink_command(*, port: int, database: Path, tls: TlsFiles | None) -> list[str]:
    """``flower-superlink`` on 127.0.0.1:``port`` with its state in ``database``."""
    argv = [
        "flower-superlink",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        str(database),
        "--disable-runtime-dependency-installation",
    ]
    if tls is None:
        argv.append("--insecure")
    else:
        argv += [
            "--ssl-ca-certfile",
            str(tls.ca_certfile),
            "--ssl-certfile",
            str(tls.certfile),
            "--ssl-keyfile",
            str(tls.keyfile),
        ]
    return argv


def supernode_command(
    *,
    superlink_address: str,
    port: int,
    node_config: Mapping[str, str | int | float | bool],
    tls: TlsFiles | None,
    prompt: bool = True,
) -> list[str]:
    """A SuperNode dialling ``superlink_address``; Runtime API on ``port``.

    ``prompt``: fedgov's ``python -m department_nodes.supernode``, Flower's
    SuperNode polling at fedgov's pace; else ``flower-supernode`` itself.
    """
    program = (
        [sys.executable, "-m", "department_nodes.supernode"]
        if prompt
        else ["flower-supernode"]
    )
    argv = [
        *program,
        "--superlink",
        superlink_address,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--node-config",
        node_config_string(node_config),
    ]
    if tls is None:
        argv.append("--insecure")
    else:
        argv += ["--root-certificates", str(tls.ca_certfile)]
    return argv


def run_command(*, app_dir: Path, run_config: Path) -> list[str]:
    """``flwr run`` of the Flower App in ``app_dir``, streaming its log to the end."""
    return [
        "flwr",
        "run",
        str(app_dir),
        CONNECTION,
        "--run-config",
        str(run_config),
        "--stream",
    ]


def supernode_list_command() -> list[str]:
    return ["flwr", "supernode", "list", CONNECTION, "--format", "json"]


def run_list_command(run_id: int) -> list[str]:
    return ["flwr", "list", CONNECTION, "--run-id", str(run_id), "--format", "json"]


def parse_run_id(log_text: str) -> int | None:
    """The run id ``flwr run`` printed, or ``None`` before it has."""
    match = _RUN_STARTED.search(log_text)
    return int(match.group(1)) if match else None


def _json_payload(text: str) -> dict[str, object]:
    # flwr prints a banner line or warnings before the JSON object.
    start = text.find("{")
    if start < 0:
        return {}
    try:
        payload = json.loads(text[start:])
    except json.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


def online_node_count(list_output: str) -> int:
    """How many SuperNodes ``flwr supernode list --format json`` reports online."""
    nodes = _json_payload(list_output).get("nodes", [])
    if not isinstance(nodes, list):
        return 0
    return sum(isinstance(n, dict) and n.get("status") == "online" for n in nodes)


def run_entry(list_output: str) -> dict[str, object]:
    """Flower's account of a run from ``flwr list --run-id N --format json``.

    Its ``status`` (``finished:completed`` when all went well), timestamps,
    ``compute-time`` and ``network-traffic``; ``{}`` when the run is unknown.
    """
    runs = _json_payload(list_output).get("runs", [])
    if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict):
        return {}
    return dict(runs[0])


def health_ok(port: int, *, tls: TlsFiles | None, timeout: float = 1.0) -> bool:
    """Whether the SuperLink on 127.0.0.1:``port`` answers its ``/health`` endpoint."""
    scheme = "http" if tls is None else "https"
    context = (
        None if tls is None else ssl.create_default_context(cafile=str(tls.ca_certfile))
    )
    try:
        with urllib.request.urlopen(
            f"{scheme}://127.0.0.1:{port}/health", timeout=timeout, context=context
        ) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False
