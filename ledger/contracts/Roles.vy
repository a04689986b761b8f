# pragma version 0.4.3
"""
@title fedgov Roles
@notice Who may do what in a fedgov deployment: admin, coordinator, department,
        auditor, registrar, analyst. Only an admin grants or revokes; the deployer is the
        first admin and the last admin cannot be revoked.
@dev    History for auditors: every change emits RoleGranted/RoleRevoked carrying
        the block of the previous change of the same (account, role) pair, and
        `last_change_block` points at the newest one. An auditor answers "did A
        hold R at block B" by walking that chain backwards, one single-block log
        query per step, instead of scanning the whole chain.
"""

import role_ids
import IRoles

implements: IRoles

event RoleGranted:
    account: indexed(address)
    role: indexed(bytes32)
    sender: indexed(address)
    previousChangeBlock: uint256

event RoleRevoked:
    account: indexed(address)
    role: indexed(bytes32)
    sender: indexed(address)
    previousChangeBlock: uint256

ADMIN: public(constant(bytes32)) = role_ids.ADMIN
COORDINATOR: public(constant(bytes32)) = role_ids.COORDINATOR
DEPARTMENT: public(constant(bytes32)) = role_ids.DEPARTMENT
AUDITOR: public(constant(bytes32)) = role_ids.AUDITOR
REGISTRAR: public(constant(bytes32)) = role_ids.REGISTRAR
ANALYST: public(constant(bytes32)) = role_ids.ANALYST

_holds: HashMap[address, HashMap[bytes32, bool]]
# Block number of the newest grant or revoke of (account, role); 0 = never.
last_change_block: public(HashMap[address, HashMap[bytes32, uint256]])
admin_count: public(uint256)
# Every account ever granted a role, in the order of its first grant: an auditor
# enumerates the actors from here, never from the logs it was handed.
account_count: public(uint256)
accounts: public(HashMap[uint256, address])
_registered: HashMap[address, bool]


@deploy
def __init__():
    self._set(msg.sender, role_ids.ADMIN, True)


@view
@external
def has_role(account: address, role: bytes32) -> bool:
    return self._holds[account][role]


@view
@external
def is_known_role(role: bytes32) -> bool:
    return self._is_known(role)


@external
def grant_role(account: address, role: bytes32):
    assert self._holds[msg.sender][role_ids.ADMIN], "Roles: caller is not an admin"
    assert self._is_known(role), "Roles: unknown role"
    assert account != empty(address), "Roles: account is the zero address"
    assert not self._holds[account][role], "Roles: account already holds the role"
    self._set(account, role, True)


@external
def revoke_role(account: address, role: bytes32):
    assert self._holds[msg.sender][role_ids.ADMIN], "Roles: caller is not an admin"
    assert self._holds[account][role], "Roles: account does not hold the role"
    if role == role_ids.ADMIN:
        assert self.admin_count > 1, "Roles: cannot revoke the last admin"
    self._set(account, role, False)


@view
@internal
def _is_known(role: bytes32) -> bool:
    return (
        role == role_ids.ADMIN
        or role == role_ids.COORDINATOR
        or role == role_ids.DEPARTMENT
        or role == role_ids.AUDITOR
        or role == role_ids.REGISTRAR
        or role == role_ids.ANALYST
    )


@internal
def _set(account: address, role: bytes32, held: bool):
    previous: uint256 = self.last_change_block[account][role]
    self._holds[account][role] = held
    self.last_change_block[account][role] = block.number
    if role == role_ids.ADMIN:
        if held:
            self.admin_count += 1
        else:
            self.admin_count -= 1
    if held and not self._registered[account]:
        self._registered[account] = True
        self.accounts[self.account_count] = account
        self.account_count += 1
    if held:
        log RoleGranted(
            account=account, role=role, sender=msg.sender, previousChangeBlock=previous
        )
    else:
        log RoleRevoked(
            account=account, role=role, sender=msg.sender, previousChangeBlock=previous
        )
