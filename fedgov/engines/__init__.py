"""Engines: where a job runs, behind one :class:`~fedgov.engines.base.Engine` protocol.

- :mod:`fedgov.engines.simulation`: Flower's simulation runtime, in this process;
- :mod:`fedgov.engines.inprocess`: the apps called directly, no Ray, no gRPC;
- :mod:`fedgov.engines.deployment`: a real SuperLink and one SuperNode per
  department, as local processes;
- :mod:`fedgov.engines.queries`: a DP analytics query on the simulation runtime;
- :mod:`fedgov.engines.audit`: the audit set-up of a job (contracts, keys,
  roles, the anchoring relay and both sides' hooks).

Import the modules themselves: this package re-exports nothing.
"""
