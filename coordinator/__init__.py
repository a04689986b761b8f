"""The coordinator: its Flower ServerApp, guarded strategies, SecAgg+ rounds,
the query logic of DP analytics, and its own audit hook (:mod:`coordinator.audit`).

Import the modules themselves (``from coordinator.training import
run_training``): this package re-exports nothing, so that importing one
module never loads torch and Flower for another.
"""
