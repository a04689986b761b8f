"""A county department's node: its Flower ClientApp, budget-first DP training.

Public names are imported on first use (:mod:`fedgov._lazy`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedgov._lazy import lazy_exports

if TYPE_CHECKING:
    from department_nodes.analytics import (
        answer_query,
        local_answer,
    )
    from department_nodes.client_app import (
        make_client_app,
    )
    from department_nodes.data_access import (
        DepartmentDataAccess,
        departments_for,
        num_features,
        partition_of,
        public_test_split,
    )
    from department_nodes.node import (
        DepartmentNode,
        NodePolicy,
        default_state_dir,
    )
    from department_nodes.secagg import (
        SecureSumContribution,
        SecureSumProvider,
        SecureSumRefusedError,
        handle_secure_round,
    )
    from department_nodes.training import (
        LocalPlan,
        plan_local_training,
        train_locally,
    )

__all__ = [
    "DepartmentDataAccess",
    "DepartmentNode",
    "LocalPlan",
    "NodePolicy",
    "SecureSumContribution",
    "SecureSumProvider",
    "SecureSumRefusedError",
    "answer_query",
    "default_state_dir",
    "departments_for",
    "handle_secure_round",
    "local_answer",
    "make_client_app",
    "num_features",
    "partition_of",
    "plan_local_training",
    "public_test_split",
    "train_locally",
]

_EXPORTS: dict[str, str] = {
    "DepartmentDataAccess": "department_nodes.data_access",
    "DepartmentNode": "department_nodes.node",
    "LocalPlan": "department_nodes.training",
    "NodePolicy": "department_nodes.node",
    "SecureSumContribution": "department_nodes.secagg",
    "SecureSumProvider": "department_nodes.secagg",
    "SecureSumRefusedError": "department_nodes.secagg",
    "answer_query": "department_nodes.analytics",
    "default_state_dir": "department_nodes.node",
    "departments_for": "department_nodes.data_access",
    "handle_secure_round": "department_nodes.secagg",
    "local_answer": "department_nodes.analytics",
    "make_client_app": "department_nodes.client_app",
    "num_features": "department_nodes.data_access",
    "partition_of": "department_nodes.data_access",
    "plan_local_training": "department_nodes.training",
    "public_test_split": "department_nodes.data_access",
    "train_locally": "department_nodes.training",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
