"""A county department's node: its Flower ClientApp, budget-first DP training."""

from __future__ import annotations

from department_nodes.client_app import make_client_app
from department_nodes.data_access import (
    DepartmentDataAccess,
    departments_for,
    num_features,
    partition_of,
    public_test_split,
)
from department_nodes.node import DepartmentNode, NodePolicy, default_state_dir
from department_nodes.training import LocalPlan, plan_local_training, train_locally

__all__ = [
    "DepartmentDataAccess",
    "DepartmentNode",
    "LocalPlan",
    "NodePolicy",
    "default_state_dir",
    "departments_for",
    "make_client_app",
    "num_features",
    "partition_of",
    "plan_local_training",
    "public_test_split",
    "train_locally",
]
