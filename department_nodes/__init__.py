"""A county department's node: its Flower ClientApp, budget-first DP training,
DP query answers, SecAgg+ contributions and its own audit hook
(:mod:`department_nodes.audit`).

Import the modules themselves (``from department_nodes.node import
DepartmentNode``): this package re-exports nothing, so that a SuperNode's
ClientApp process loads only what it runs.
"""
