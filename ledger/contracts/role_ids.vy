# pragma version 0.4.3
"""
@title fedgov role identifiers
@notice The six roles of a fedgov deployment, as bytes32 ids. Any contract that
        checks a role imports this module so that every contract and the Python
        client (ledger.chain_roles.Role) agree on the same ids.
"""

ADMIN: constant(bytes32) = keccak256("fedgov.role.admin")
COORDINATOR: constant(bytes32) = keccak256("fedgov.role.coordinator")
DEPARTMENT: constant(bytes32) = keccak256("fedgov.role.department")
AUDITOR: constant(bytes32) = keccak256("fedgov.role.auditor")
REGISTRAR: constant(bytes32) = keccak256("fedgov.role.registrar")
ANALYST: constant(bytes32) = keccak256("fedgov.role.analyst")
