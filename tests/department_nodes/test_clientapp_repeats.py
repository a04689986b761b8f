"""The warm flwr-clientapp installs an app bundle once, as Flower's own install would,
and builds no telemetry event when telemetry is off."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from flwr.cli import install as flower_install
from flwr.cli.build import build_fab_from_disk
from flwr.supercore import telemetry
from flwr.supernode.runtime import run_clientapp

from department_nodes._clientapp_repeats import (
    RECORDS,
    TELEMETRY_ENV,
    installed_or_install,
    skip_repeats,
)

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tinyapp"
version = "{version}"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "fedgov-tests"

[tool.flwr.app.components]
serverapp = "tinyapp.server:app"
clientapp = "tinyapp.client:app"

[tool.flwr.app.config]

[tool.flwr.federations]
default = "local"

[tool.flwr.federations.local]
options.num-supernodes = 1
"""


def _bundle(root: Path, version: str) -> bytes:
    app = root / f"app-{version}"
    (app / "tinyapp").mkdir(parents=True)
    (app / "pyproject.toml").write_text(_PYPROJECT.format(version=version))
    (app / "tinyapp" / "__init__.py").write_text("")
    (app / "tinyapp" / "server.py").write_text("app = None\n")
    (app / "tinyapp" / "client.py").write_text("app = None\n")
    return build_fab_from_disk(app)


@pytest.fixture
def flwr_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "flwr-home"
    monkeypatch.setenv("FLWR_HOME", str(home))
    return home


@pytest.fixture
def flower_installs(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every bundle Flower's own install unpacked."""
    seen: list[bytes] = []
    install = flower_install.install_from_fab

    def counting(
        fab_file: Path | bytes, install_dir: Path | None = None, skip: bool = False
    ) -> Path:
        assert isinstance(fab_file, bytes)
        seen.append(fab_file)
        return install(fab_file, install_dir, skip)

    monkeypatch.setattr(flower_install, "install_from_fab", counting)
    return seen


def test_a_bundle_is_unpacked_once_and_its_folder_returned_after(
    tmp_path: Path, flwr_home: Path, flower_installs: list[bytes]
) -> None:
    fab = _bundle(tmp_path, "1.0.0")

    first = installed_or_install(fab, skip_prompt=True)
    again = installed_or_install(fab, skip_prompt=True)

    assert first == again
    assert (first / "tinyapp" / "client.py").read_text() == "app = None\n"
    assert len(flower_installs) == 1
    assert first.parent == flwr_home / "apps"
    assert (flwr_home / "apps" / RECORDS).stat().st_mode & 0o777 == 0o700


def test_another_bundle_goes_through_flowers_install(
    tmp_path: Path, flwr_home: Path, flower_installs: list[bytes]
) -> None:
    one = installed_or_install(_bundle(tmp_path, "1.0.0"), skip_prompt=True)
    other = installed_or_install(_bundle(tmp_path, "2.0.0"), skip_prompt=True)

    assert one != other
    assert len(flower_installs) == 2


def test_a_folder_removed_since_is_installed_again(
    tmp_path: Path, flwr_home: Path, flower_installs: list[bytes]
) -> None:
    fab = _bundle(tmp_path, "1.0.0")
    folder = installed_or_install(fab, skip_prompt=True)
    for path in sorted(folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    folder.rmdir()

    again = installed_or_install(fab, skip_prompt=True)

    assert again == folder
    assert (again / "tinyapp" / "server.py").is_file()
    assert len(flower_installs) == 2


def test_a_tampered_bundle_is_not_taken_for_the_installed_one(
    tmp_path: Path, flwr_home: Path, flower_installs: list[bytes]
) -> None:
    fab = _bundle(tmp_path, "1.0.0")
    installed_or_install(fab, skip_prompt=True)
    tampered = fab.replace(b"app = None", b"app = 1234")

    # Flower's own install checks the tampered bundle (its zip's CRCs, then
    # every file's hash), as it checks every bundle it has not seen.
    with pytest.raises(Exception, match=r"CRC|hash"):
        installed_or_install(tampered, skip_prompt=True)
    assert len(flower_installs) == 2


def test_calls_it_does_not_cover_go_to_flower_unchanged(
    tmp_path: Path, flwr_home: Path, flower_installs: list[bytes]
) -> None:
    fab = _bundle(tmp_path, "1.0.0")
    elsewhere = tmp_path / "elsewhere"

    installed_or_install(fab, elsewhere, True)
    installed_or_install(fab, elsewhere, True)

    assert len(flower_installs) == 2
    assert not (flwr_home / "apps" / RECORDS).exists()


def test_skip_repeats_replaces_what_flwr_clientapp_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        run_clientapp, "install_from_fab", flower_install.install_from_fab
    )
    monkeypatch.setattr(run_clientapp, "event", telemetry.event)
    monkeypatch.setenv(TELEMETRY_ENV, "0")

    skip_repeats()

    assert run_clientapp.install_from_fab is installed_or_install  # type: ignore[attr-defined]
    assert run_clientapp.event is not telemetry.event  # type: ignore[attr-defined]
    done = run_clientapp.event(telemetry.EventType.FLWR_CLIENTAPP_RUN_ENTER)  # type: ignore[attr-defined]
    assert done.result(timeout=0) == "disabled"


def test_with_telemetry_on_flowers_event_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        run_clientapp, "install_from_fab", flower_install.install_from_fab
    )
    monkeypatch.setattr(run_clientapp, "event", telemetry.event)
    monkeypatch.setenv(TELEMETRY_ENV, "1")

    skip_repeats()

    assert run_clientapp.event is telemetry.event  # type: ignore[attr-defined]


def test_flwr_clientapp_still_installs_and_reports_through_these_names() -> None:
    # If a Flower release stops looking these up here, the skips do nothing.
    source = inspect.getsource(run_clientapp.run_clientapp)
    assert "install_from_fab(fab.content, skip_prompt=True)" in source
    assert "event(EventType.FLWR_CLIENTAPP_RUN_ENTER)" in source
