"""Chain backends: deployment, loading, error mapping, anvil process, key files."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from eth_account import Account

from fedgov.errors import ConfigurationError
from ledger.chain import AnvilProcess, Chain, account_from_key_file
from ledger.chain_roles import Roles, role_id
from ledger.contracts import load_artifact
from ledger.errors import ChainError, ChainUnavailableError, ContractRevertError
from ledger.records import Role
from tests.chain_fixtures import requires_anvil


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_deployed_contract_is_loaded_by_address_with_its_code_checked(
    chain: Chain,
) -> None:
    # Prepare
    admin = chain.accounts[0]
    roles = Roles.deploy(chain, admin=admin)

    # Execute
    loaded = Roles.at(chain, roles.address.lower())

    # Assert
    assert loaded.address == roles.address
    assert loaded.has_role(admin.address, Role.ADMIN)
    code = bytes(chain.w3.eth.get_code(roles.contract.address))
    assert code == load_artifact("Roles").bytecode_runtime


def test_loading_rejects_other_code_and_empty_addresses(chain: Chain) -> None:
    # Prepare
    roles = Roles.deploy(chain, admin=chain.accounts[0])

    # Execute / Assert
    with pytest.raises(ChainError, match="not this build") as impostor:
        chain.contract("AnchorRegistry", roles.address)
    with pytest.raises(ChainError, match="no contract there"):
        chain.contract("Roles", chain.accounts[5].address)
    assert impostor.value.operation.startswith("load AnchorRegistry")


def test_revert_in_a_transaction_carries_the_contract_reason(chain: Chain) -> None:
    # Prepare
    admin, outsider = chain.accounts[0], chain.accounts[5]
    roles = Roles.deploy(chain, admin=admin)
    function = roles.contract.functions.grant_role(
        outsider.address, role_id(Role.AUDITOR)
    )

    # Execute
    with pytest.raises(ContractRevertError) as error:
        chain.transact(function, sender=outsider)

    # Assert: one error type and reason on every backend
    assert error.value.reason == "Roles: caller is not an admin"
    assert error.value.operation == "grant_role"
    assert str(error.value) == "grant_role reverted: Roles: caller is not an admin"


def test_revert_in_a_call_carries_the_contract_reason(chain: Chain) -> None:
    # Prepare
    roles = Roles.deploy(chain, admin=chain.accounts[0])
    function = roles.contract.functions.revoke_role(
        chain.accounts[5].address, role_id(Role.AUDITOR)
    )

    # Execute
    with pytest.raises(ContractRevertError) as error:
        chain.call(function)

    # Assert: the call's sender is not an admin on either backend
    assert error.value.reason.startswith("Roles: ")
    assert isinstance(error.value.__cause__, Exception)


def test_out_of_gas_is_a_chain_error_not_a_revert(chain: Chain) -> None:
    # Prepare
    admin = chain.accounts[0]
    roles = Roles.deploy(chain, admin=admin)
    function = roles.contract.functions.grant_role(
        chain.accounts[1].address, role_id(Role.AUDITOR)
    )

    # Execute
    with pytest.raises(ChainError, match="ran out of gas") as error:
        chain.transact(function, sender=admin, gas=30_000)

    # Assert
    assert not isinstance(error.value, ContractRevertError)
    assert not roles.has_role(chain.accounts[1].address, Role.AUDITOR)


def test_deploy_reports_the_block_and_accounts_are_funded(chain: Chain) -> None:
    # Prepare
    before = chain.block_number

    # Execute
    Roles.deploy(chain, admin=chain.accounts[0])

    # Assert
    assert chain.block_number == before + 1
    assert chain.block_timestamp(chain.block_number) > 1_600_000_000
    assert len(chain.accounts) >= 6
    assert all(chain.w3.eth.get_balance(a.address) > 10**18 for a in chain.accounts)


def test_unreachable_node_is_chain_unavailable() -> None:
    # Prepare
    url = f"http://127.0.0.1:{_closed_port()}"

    # Execute
    with pytest.raises(ChainUnavailableError) as error:
        Chain.connect(url, accounts=[])

    # Assert
    assert error.value.endpoint == url
    assert "is unavailable" in str(error.value)


def test_connect_validates_its_arguments() -> None:
    with pytest.raises(ConfigurationError, match="url"):
        Chain.connect("ws://127.0.0.1:8545", accounts=[])
    with pytest.raises(ConfigurationError, match="timeout_s"):
        Chain.connect("http://127.0.0.1:8545", accounts=[], timeout_s=0)


@pytest.mark.anvil
@requires_anvil
def test_anvil_restart_keeps_port_and_persisted_state(tmp_path: Path) -> None:
    # Prepare
    with AnvilProcess(workdir=tmp_path, persist_state=True) as anvil:
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        roles = Roles.deploy(chain, admin=anvil.accounts[0])
        port = anvil.port

        # Execute
        anvil.stop()
        with pytest.raises(ChainUnavailableError):
            roles.has_role(anvil.accounts[0].address, Role.ADMIN)
        anvil.start()

        # Assert
        assert anvil.port == port
        assert roles.has_role(anvil.accounts[0].address, Role.ADMIN)
    assert not anvil.running
    assert (tmp_path / "state.json").is_file()


@pytest.mark.anvil
@requires_anvil
def test_anvil_stops_and_reaps_on_error_and_cleans_its_folder() -> None:
    # Prepare
    anvil = AnvilProcess()

    def fail_while_running() -> None:
        with anvil:
            assert (anvil.workdir / "anvil.log").is_file()
            workdir = anvil.workdir
            raise RuntimeError(f"boom in {workdir}")

    # Execute
    with pytest.raises(RuntimeError, match="boom") as error:
        fail_while_running()
    workdir = Path(str(error.value).removeprefix("boom in "))

    # Assert
    assert not anvil.running
    assert not workdir.exists()
    with pytest.raises(ChainUnavailableError):
        Chain.connect(anvil.url, accounts=[])


def test_anvil_that_dies_at_start_is_reported_and_reaped(tmp_path: Path) -> None:
    # Prepare: a stand-in binary that fails like a bad anvil would
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'error: bad flag' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    anvil = AnvilProcess(fake, workdir=tmp_path)

    # Execute
    with pytest.raises(ChainUnavailableError, match="exited with code 3") as error:
        anvil.start()

    # Assert
    assert "bad flag" in str(error.value)
    assert not anvil.running


def test_anvil_needs_an_existing_binary(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="make anvil"):
        AnvilProcess(tmp_path / "no-such-anvil")


def test_key_file_round_trip_and_wrong_password(tmp_path: Path) -> None:
    # Prepare
    account = Account.create()
    keystore = Account.encrypt(account.key, "correct horse", kdf="pbkdf2", iterations=2)
    path = tmp_path / "key.json"
    path.write_text(json.dumps(keystore), encoding="utf-8")

    # Execute
    loaded = account_from_key_file(path, "correct horse")
    with pytest.raises(ConfigurationError) as wrong:
        account_from_key_file(path, "wrong")
    with pytest.raises(ConfigurationError, match="cannot read"):
        account_from_key_file(tmp_path / "missing.json", "x")

    # Assert
    assert loaded.address == account.address
    assert "wrong password" in str(wrong.value)
    assert account.key.hex() not in str(wrong.value)


def test_node_errors_other_than_reverts_are_chain_errors(chain: Chain) -> None:
    # Execute
    with pytest.raises(ChainError, match="not found") as error:
        chain.block_timestamp(10**6)

    # Assert
    assert not isinstance(error.value, ContractRevertError | ChainUnavailableError)
    assert error.value.operation == "eth_getBlockByNumber(1000000)"
