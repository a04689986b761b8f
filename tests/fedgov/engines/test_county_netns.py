"""A county across machines: the SuperLink, the chain node and each department
in network namespaces of their own, TLS and SuperNode authentication on.

Topology (made and torn down here; traffic only on these veth pairs and
loopback)::

    chain node  10.99.0.2 ── 10.99.0.1  coordinator: SuperLink, ServerApp, log service
    dept-0      10.99.1.2 ── 10.99.1.1  (the coordinator's address dept-0 dials)
    dept-1      10.99.2.2 ── 10.99.2.1  (the coordinator's address dept-1 dials)

The county is installed (``fedgov init``) with its chain node in its own
namespace. Each department makes its audit key on its own machine, the
county enrols it and serves its log's replica over the gRPC log service; the
SuperLink only admits registered SuperNode keys. A ``flwr run`` then trains;
the departments push their signed heads to the county (they never reach the
chain), the coordinator's relay anchors them, and the auditor, at the
coordinator, verifies every side: the replicas are the departments' logs.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedgov.county import load_county
from fedgov.engines._deployment_flower import (
    CONNECTION,
    TlsFiles,
    node_config_string,
    online_node_count,
    write_flower_config,
    write_run_config,
)
from fedgov.engines._deployment_processes import ProcessSupervisor
from ledger.store import LogStore
from tests.chain_fixtures import requires_anvil
from tests.fedgov.engines.test_deployment_federation import make_tls_files

REPO = Path(__file__).parents[3]
BIN = Path(sys.executable).parent


def _can_make_namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"fgprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode
    if made == 0:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    requires_anvil,
    pytest.mark.skipif(
        not _can_make_namespaces(), reason="needs root and `ip netns` (Linux)"
    ),
]


class Network:
    """Namespaces joined by veth pairs, removed on :meth:`close`."""

    def __init__(self) -> None:
        tag = secrets.token_hex(2)
        self.link, self.chain = f"fgl{tag}", f"fgc{tag}"
        self.departments = [f"fgd0{tag}", f"fgd1{tag}"]
        self.made: list[str] = []

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def up(self) -> None:
        for ns in (self.link, self.chain, *self.departments):
            self._ip("netns", "add", ns)
            self.made.append(ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
        peers = [
            (self.chain, 0),
            *((ns, k + 1) for k, ns in enumerate(self.departments)),
        ]
        for ns, k in peers:
            left, right = f"vl{k}", f"vr{k}"
            self._ip(
                "link", "add", left, "netns", self.link, "type", "veth",
                "peer", "name", right, "netns", ns,
            )  # fmt: skip
            self._ip("-n", self.link, "addr", "add", f"10.99.{k}.1/30", "dev", left)
            self._ip("-n", ns, "addr", "add", f"10.99.{k}.2/30", "dev", right)
            self._ip("-n", self.link, "link", "set", left, "up")
            self._ip("-n", ns, "link", "set", right, "up")

    def close(self) -> None:
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FEDGOV_KEY_PASSWORD"}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env['PATH']}",
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PYTHONUNBUFFERED": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HUB_OFFLINE": "1",
            **extra,
        }
    )
    return env


def _in(ns: str, command: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, *command],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, " ".join(command) + "\n" + done.stdout + done.stderr
    return done.stdout


def _supernode_keys(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP384R1())
    private = folder / f"{name}.key"
    public = folder / f"{name}.key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    )
    return private, public


@pytest.mark.timeout(3600)
def test_departments_on_their_own_machines_reach_the_chain_through_the_county(
    tmp_path: Path,
) -> None:
    # Prepare: the network, the county with its chain node on its own machine.
    network = Network()
    home = tmp_path / "county"
    tls = make_tls_files(tmp_path / "pki", ips=("127.0.0.1", "10.99.1.1", "10.99.2.1"))
    county_env = _env(FEDGOV_HOME=str(home), FLWR_HOME=str(tmp_path / "flwr"))
    supervisor = ProcessSupervisor(
        token=secrets.token_hex(8),
        env=county_env,
        cwd=tmp_path,
        log_dir=tmp_path / "logs",
        grace_seconds=10,
    )
    try:
        network.up()
        _in(
            network.chain,
            ["fedgov", "init", "--county", "lakeview", "--host", "10.99.0.2"],
            county_env,
            tmp_path,
        )
        county = load_county(home / "county.toml")
        addresses = {}
        for k, ns in enumerate(network.departments):
            state = tmp_path / f"dept-{k}"
            own = _env(FEDGOV_HOME=str(tmp_path / f"dept-{k}-home"))
            addresses[k] = _in(
                ns,
                ["fedgov", "ledger", "key", "--state-dir", str(state), "--department", f"dept-{k}"],
                own,
                tmp_path,
            ).strip()  # fmt: skip
            _in(
                network.link,
                ["fedgov", "county", "enroll", "--department", f"dept-{k}", "--address", addresses[k]],
                county_env,
                tmp_path,
            )  # fmt: skip
        # The coordinator's machine: the county's log service and the SuperLink.
        supervisor.start(
            "log-service",
            ["ip", "netns", "exec", network.link, "fedgov", "ledger", "log", "serve",
             "--replicas", str(county.paths.state_dir), "--address", "0.0.0.0:7443",
             "--tls-cert", str(tls.certfile), "--tls-key", str(tls.keyfile)],
        )  # fmt: skip
        supervisor.start(
            "superlink",
            ["ip", "netns", "exec", network.link, "flower-superlink",
             "--host", "0.0.0.0", "--port", "9093",
             "--ssl-ca-certfile", str(tls.ca_certfile),
             "--ssl-certfile", str(tls.certfile), "--ssl-keyfile", str(tls.keyfile),
             "--enable-supernode-auth", "--database", str(tmp_path / "superlink.db"),
             "--disable-runtime-dependency-installation"],
        )  # fmt: skip
        write_flower_config(
            tmp_path / "flwr",
            address="127.0.0.1:9093",
            tls=TlsFiles(tls.ca_certfile, tls.certfile, tls.keyfile),
        )
        deadline = time.monotonic() + 120
        while True:
            listed = subprocess.run(
                ["ip", "netns", "exec", network.link, "flwr", "supernode", "list",
                 CONNECTION, "--format", "json"],
                env=county_env, cwd=tmp_path, capture_output=True, text=True,
            )  # fmt: skip
            if listed.returncode == 0 and '"nodes"' in listed.stdout:
                break  # the SuperLink answers its Control API
            assert time.monotonic() < deadline, listed.stdout + listed.stderr
            time.sleep(1)
        # Each department's SuperNode: its own key, registered at the county;
        # it dials the coordinator's address and names the county's log service.
        for k, ns in enumerate(network.departments):
            private, public = _supernode_keys(tmp_path / "pki", f"dept-{k}")
            _in(
                network.link,
                ["flwr", "supernode", "register", str(public), CONNECTION],
                county_env,
                tmp_path,
            )
            node_config = node_config_string(
                {
                    "department": f"dept-{k}",
                    "state-dir": str(tmp_path / f"dept-{k}"),
                    "log-service": f"10.99.{k + 1}.1:7443",
                    "log-service-ca": str(tls.ca_certfile),
                    "ledger-chain-id": county.chain.chain_id,
                    "ledger-registry": county.contracts.anchor_registry,
                    "county": county.county,
                }
            )
            supervisor.start(
                f"supernode-{k}",
                ["ip", "netns", "exec", ns, "flower-supernode",
                 "--superlink", f"10.99.{k + 1}.1:9093",
                 "--root-certificates", str(tls.ca_certfile),
                 "--auth-supernode-private-key", str(private),
                 "--host", "127.0.0.1", "--port", "9094",
                 "--node-config", node_config],
                env={
                    "FLWR_HOME": str(tmp_path / f"node-{k}"),
                    "FEDGOV_HOME": str(tmp_path / f"dept-{k}-home"),
                },
            )  # fmt: skip
        deadline = time.monotonic() + 300
        while (
            online_node_count(
                _in(
                    network.link,
                    ["flwr", "supernode", "list", CONNECTION, "--format", "json"],
                    county_env,
                    tmp_path,
                )
            )
            < 2
        ):
            supervisor.check_running(what="while SuperNodes were registering")
            assert time.monotonic() < deadline, "the SuperNodes did not register"
            time.sleep(2)
        run_dir = county.paths.runs_dir / "netns-job"
        job = write_run_config(
            tmp_path / "job.toml",
            {
                "job-id": "netns-job",
                "dataset": "randhie",
                "partition": "dirichlet",
                "num-departments": 2,
                "num-rounds": 1,
                "min-departments": 2,
                "model": "logreg",
                "run-dir": str(run_dir),
            },
        )

        # Act: the job, submitted at the coordinator; then the auditor there.
        ran = subprocess.run(
            ["ip", "netns", "exec", network.link, "flwr", "run", str(REPO),
             CONNECTION, "--run-config", str(job), "--stream"],
            env=county_env, cwd=tmp_path, capture_output=True, text=True, timeout=2400,
        )  # fmt: skip
        verified = subprocess.run(
            ["ip", "netns", "exec", network.link, "fedgov", "audit", "verify", "--json"],
            env=county_env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        departments_own = {}
        for k in range(2):
            (own,) = (tmp_path / f"dept-{k}" / "departments" / f"dept-{k}").glob(
                "audit-0x*.db"
            )
            with LogStore(own) as store:
                departments_own[k] = (store.size, store.root())
    finally:
        supervisor.stop()
        subprocess.run(
            ["fedgov", "ledger", "node", "stop"],
            env=county_env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
        )
        network.close()

    # Assert: the run finished; every side's records are anchored and agree.
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    assert (run_dir / "run_record.json").is_file()
    assert verified.returncode == 0, verified.stdout[-4000:] + verified.stderr[-4000:]
    report = json.loads(verified.stdout[verified.stdout.index("{") :])
    assert report["ok"] is True
    assert report["jobs"] == ["netns-job"]
    assert report["rounds"] == 1
    by_actor = {log["actor"]: log for log in report["logs"]}
    for k in range(2):
        replica = by_actor[addresses[k]]
        assert replica["department"] == f"dept-{k}"
        # The county's replica is the department's own log, all of it anchored.
        assert replica["records"] == departments_own[k][0] > 0
        assert replica["anchored_size"] == replica["records"]
        path = next(
            county.paths.state_dir.glob(f"departments/dept-{k}/audit-{addresses[k]}.db")
        )
        with LogStore(path) as store:
            assert (store.size, store.root()) == departments_own[k]
    coordinator = next(log for log in report["logs"] if log["role"] == "coordinator")
    assert coordinator["anchored_size"] == coordinator["records"] > 0
