"""Experiments: sweeps, baselines, results, the report and the benchmarks.

They run the product's own engines and ``fedgov train``'s Hydra
configuration (:mod:`fedgov.commands.config`). Import the modules
themselves: this package re-exports nothing.
"""
