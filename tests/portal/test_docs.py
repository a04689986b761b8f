"""The commands docs/portal.md and the README show, run as a user types them.

The block is read from both pages (they must agree). What a user fills in by
hand is filled in here, and only that: ``county/`` is the test county's
folder, the two ``0x...`` are its AnchorRegistry and Consultation, the
certificate, the relayer's keystore and its password (``$FEDGOV_KEY_PASSWORD``)
are the test's, ``--rpc-url`` points at the test's anvil and ``--port`` is a
free one.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest

from tests.portal._browser import PortalProcess, tls_pair
from tests.portal._county import JOB_ID, PASSWORD_ENV

if TYPE_CHECKING:
    from tests.portal._county import County

pytestmark = pytest.mark.anvil

ROOT = Path(__file__).resolve().parents[2]
FEDGOV = Path(sys.executable).with_name("fedgov")


def _block(page: Path, heading: str) -> str:
    after = page.read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{2,3} ", after, maxsplit=1)[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return str(block)


def _commands(block: str) -> list[list[str]]:
    lines = block.replace("\\\n", " ").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def test_the_portal_starts_as_documented(county: County, tmp_path: Path) -> None:
    # Prepare
    block = _block(ROOT / "docs" / "portal.md", "## 1. Starting it")
    assert block == _block(ROOT / "README.md", "## The county portal")
    make, token, serve = _commands(block)
    (tmp_path / "county").symlink_to(county.root)
    cert, key = tls_pair(tmp_path)
    cert.rename(tmp_path / "portal.pem")
    key.rename(tmp_path / "portal-key.pem")
    shutil.copy(county.relayer_keystore, tmp_path / "relayer.json")
    addresses = iter([county.registry, county.consultation.address])
    args = [
        next(addresses)
        if word == "0x..."
        else word.replace("http://127.0.0.1:8545", county.rpc_url)
        for word in serve[3:]
    ]

    # Execute
    built = subprocess.run(
        make, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    made = subprocess.run(
        [str(FEDGOV), *token[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    password = {"FEDGOV_KEY_PASSWORD": os.environ[PASSWORD_ENV]}
    with (
        PortalProcess(
            args, log=tmp_path / "portal.log", cwd=tmp_path, env=password
        ) as portal,
        httpx2.Client(base_url=portal.url, verify=False, timeout=30) as client,
    ):
        home = client.get("/")
        register = client.get("/register")
        signin = client.post(
            "/signin",
            data={
                "token": made.stdout.splitlines()[-1],
                "csrf_token": client.cookies["__Host-fedgov-csrf"],
            },
        )

    # Assert
    assert (make[0], serve[:3], token[:3]) == (
        "make",
        ["fedgov", "portal", "serve"],
        ["fedgov", "portal", "token"],
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert made.returncode == 0
    assert "auditor token for ada" in made.stdout
    assert home.status_code == 200
    assert "County portal" in home.text
    assert "Strict-Transport-Security".lower() in home.headers
    assert f"<code>{JOB_ID}</code>" in register.text
    assert signin.status_code == 303
    assert signin.headers["location"] == "/audit"
