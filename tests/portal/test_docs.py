"""The commands docs/portal.md and the README show, run as a user types them.

The block is read from both pages (they must agree). The test county is
installed as ``fedgov init`` installs one: its ``county.toml`` in
``$FEDGOV_HOME`` names its anvil, contracts and folders. What a user fills in
by hand is filled in here, and only that: the certificate, the relayer's
keystore and its password (``$FEDGOV_KEY_PASSWORD``) are the test's, and
``--port`` is a free one.
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


def _install(county: County, home: Path) -> None:
    """``county.toml`` for the test county, as ``fedgov init`` writes one."""
    home.mkdir()
    (home / "county.toml").write_text(
        f"""format = "fedgov-county"
version = 1
county = "lakeview"

[chain]
chain_id = {county.chain.chain_id}
rpc_url = "{county.rpc_url}"

[contracts]
roles = "{county.roles}"
anchor_registry = "{county.registry}"
consultation = "{county.consultation.address}"

[accounts]
relayer = "{county.relayer_keystore}"

[keys]
sealed = true

[paths]
state_dir = "{county.state_dir}"
runs_dir = "{county.runs_dir}"
auditor_dir = "{home / "auditor"}"
""",
        encoding="utf-8",
    )


def test_the_portal_starts_as_documented(county: County, tmp_path: Path) -> None:
    # Prepare
    block = _block(ROOT / "docs" / "portal.md", "## 1. Starting it")
    assert block == _block(ROOT / "README.md", "## The county portal")
    make, token, serve = _commands(block)
    home = tmp_path / "home"
    _install(county, home)
    cert, key = tls_pair(tmp_path)
    cert.rename(tmp_path / "portal.pem")
    key.rename(tmp_path / "portal-key.pem")
    shutil.copy(county.relayer_keystore, tmp_path / "relayer.json")
    env = {"FEDGOV_HOME": str(home), "FEDGOV_KEY_PASSWORD": os.environ[PASSWORD_ENV]}

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
        env={**os.environ, **env},
    )
    with (
        PortalProcess(
            serve[3:], log=tmp_path / "portal.log", cwd=tmp_path, env=env
        ) as portal,
        httpx2.Client(base_url=portal.url, verify=False, timeout=30) as client,
    ):
        front = client.get("/")
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
    assert (home / "portal" / "auditor-tokens").exists()
    assert front.status_code == 200
    assert "County portal" in front.text
    assert "Strict-Transport-Security".lower() in front.headers
    assert f"<code>{JOB_ID}</code>" in register.text
    assert signin.status_code == 303
    assert signin.headers["location"] == "/audit"
