"""``fedgov init``: create the county installation every other command reads.

Example::

    fedgov init --county lakeview

Under ``$FEDGOV_HOME`` (default ``~/.fedgov``) it creates, once:

- the county's operational keys in ``keys/`` (admin, relayer, registrar)
  and the coordinator's audit key in ``state/coordinator/``: encrypted
  keystores when ``$FEDGOV_KEY_PASSWORD`` is set, otherwise plaintext files
  (the demo's mode, warned about once, recorded as ``keys.sealed = false``);
- a county chain node in ``chain/`` (:mod:`ledger.node`) whose genesis funds
  those accounts and nobody else, started in the background;
- Roles, AnchorRegistry and a Consultation contract, deployed once; the
  coordinator and the registrar granted their roles;
- ``county.toml`` (:mod:`fedgov.county`): chain id, RPC URL, contracts,
  folders, witness policy.

The chain node keeps running; ``fedgov ledger node stop|start|status``
manages it.
"""

from __future__ import annotations

import argparse
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from fedgov.county import (
    COUNTY_FILE,
    AccountFiles,
    ChainSettings,
    ContractAddresses,
    CountyConfig,
    CountyPaths,
    county_home,
)
from fedgov.errors import ConfigurationError
from fedgov.notices import warn_once
from ledger.anchor_registry import AnchorRegistry
from ledger.chain import Chain
from ledger.chain_roles import Roles
from ledger.keys import (
    KEY_PASSWORD_ENV,
    PlaintextKeyWarning,
    key_password,
    load_or_create_key,
)
from ledger.layout import KEY_FILE, coordinator_dir
from ledger.node import create_node, start_node
from ledger.records import Role
from ledger.voting.consultation import ConsultationContract
from ledger.witness_policy import WitnessPolicy

__all__ = ["configure", "create_county"]

_FUNDS = 10**24  # wei: a million ether on a chain only the county uses


@dataclass(frozen=True)
class CreatedCounty:
    """What :func:`create_county` made."""

    config: CountyConfig
    rpc_url: str
    node_pid: int | None


def create_county(
    home: Path,
    *,
    county: str,
    chain_id: int = 31337,
    host: str = "127.0.0.1",
    port: int = 8545,
    witness_policy: Path | None = None,
) -> CreatedCounty:
    """Create the county installation in ``home`` (see the module)."""
    home = home.absolute()
    file = home / COUNTY_FILE
    if file.exists():
        raise ConfigurationError(
            str(file), "a county is installed here already; every command reads it"
        )
    if witness_policy is not None:
        WitnessPolicy.read(witness_policy)  # refuse a bad policy before anything
    password = key_password()
    if password is None:
        warn_once(
            "county-plaintext-keys",
            f"${KEY_PASSWORD_ENV} is not set: the county's keys are stored in "
            "PLAINTEXT (demo mode); anyone who reads them can act as the county. "
            f"Set ${KEY_PASSWORD_ENV} before `fedgov init` for sealed keys.",
        )
    keys = home / "keys"
    state = home / "state"
    with warnings.catch_warnings():
        # Said once above for the whole county, not once per key file.
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        accounts = {
            name: load_or_create_key(keys / f"{name}.json", password=password)
            for name in ("admin", "relayer", "registrar")
        }
        coordinator = load_or_create_key(
            coordinator_dir(state) / KEY_FILE, password=password
        )
    node_dir = home / "chain"
    settings = create_node(
        node_dir,
        chain_id=chain_id,
        host=host,
        port=port,
        funded={account.address: _FUNDS for account in accounts.values()},
    )
    status = start_node(node_dir)
    chain = Chain.connect(settings.rpc_url, accounts=list(accounts.values()))
    admin = accounts["admin"]
    roles = Roles.deploy(chain, admin=admin)
    registry = AnchorRegistry.deploy(chain, roles, sender=admin)
    consultation = ConsultationContract.deploy(chain, roles, sender=admin)
    roles.grant(coordinator.address, Role.COORDINATOR, sender=admin)
    roles.grant(accounts["registrar"].address, Role.REGISTRAR, sender=admin)
    policy_copy = None
    if witness_policy is not None:
        policy_copy = home / "witness-policy.txt"
        shutil.copyfile(witness_policy, policy_copy)
    config = CountyConfig(
        file=file,
        county=county,
        chain=ChainSettings(
            chain_id=chain_id, rpc_url=settings.rpc_url, node_dir=node_dir
        ),
        contracts=ContractAddresses(
            roles=roles.address,
            anchor_registry=registry.address,
            consultation=consultation.address,
        ),
        accounts=AccountFiles(
            relayer=keys / "relayer.json",
            admin=keys / "admin.json",
            registrar=keys / "registrar.json",
        ),
        paths=CountyPaths(
            state_dir=state, runs_dir=home / "runs", auditor_dir=home / "auditor"
        ),
        keys_sealed=password is not None,
        witness_policy=policy_copy,
    )
    config.write()
    return CreatedCounty(config=config, rpc_url=settings.rpc_url, node_pid=status.pid)


def configure(parser: argparse.ArgumentParser) -> None:
    """``fedgov init --county NAME [--chain-id N] [--port P] [--witness-policy F]``."""
    parser.add_argument(
        "--county",
        required=True,
        help="the county's name, a DNS label (checkpoint origins carry it)",
    )
    parser.add_argument("--chain-id", type=int, default=31337, help="(31337)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address the chain node listens on (127.0.0.1; the coordinator's "
        "machine must reach it)",
    )
    parser.add_argument(
        "--port", type=int, default=8545, help="the chain node's RPC port (8545)"
    )
    parser.add_argument(
        "--witness-policy",
        type=Path,
        help="a C2SP tlog-policy: witnesses cosign every checkpoint, the auditor "
        "requires their quorum",
    )
    parser.add_argument(
        "--home", type=Path, help="where (default: $FEDGOV_HOME or ~/.fedgov)"
    )

    def run(args: argparse.Namespace) -> int:
        created = create_county(
            county_home(args.home),
            county=args.county,
            chain_id=args.chain_id,
            host=args.host,
            port=args.port,
            witness_policy=args.witness_policy,
        )
        config = created.config
        print(f"county {config.county}: {config.file}")
        print(
            f"  chain node running at {created.rpc_url} (chain id "
            f"{config.chain.chain_id}, pid {created.node_pid}); "
            "`fedgov ledger node stop` stops it, `fedgov ledger node start` resumes it"
        )
        print(f"  Roles          {config.contracts.roles}")
        print(f"  AnchorRegistry {config.contracts.anchor_registry}")
        print(f"  Consultation   {config.contracts.consultation}")
        print(
            f"  keys {'sealed' if config.keys_sealed else 'in PLAINTEXT (demo mode)'} "
            f"in {config.home / 'keys'}; state in {config.paths.state_dir}"
        )
        return 0

    parser.set_defaults(func=run)
