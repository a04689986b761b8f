"""Files and folders fedgov creates are its operator's alone (0600 / 0700)."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from fedgov.files import private_dir, private_file, write_atomic

if TYPE_CHECKING:
    from pathlib import Path


def open_to_others(root: Path) -> list[str]:
    return [
        f"{oct(stat.S_IMODE(path.stat().st_mode))} {path}"
        for path in [root, *root.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]


def test_folders_and_files_are_created_private(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a" / "b" / "c.bin", b"x")
    private_file(tmp_path / "d" / "e.db")
    private_dir(tmp_path / "f" / "g")

    assert open_to_others(tmp_path / "a") == []
    assert open_to_others(tmp_path / "d") == []
    assert open_to_others(tmp_path / "f") == []


def test_an_existing_file_and_folder_keep_their_mode(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "x").write_bytes(b"kept")
    (folder / "x").chmod(0o644)

    private_dir(folder)
    private_file(folder / "x")

    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert (folder / "x").read_bytes() == b"kept"
