"""The one protocol every engine follows: run a job, return its run record.

An engine decides *where* the coordinator and the departments run (threads
and Ray actors, plain function calls, or real SuperLink and SuperNode
processes); what they do is the same apps everywhere
(:func:`coordinator.server_app.make_server_app`,
:func:`department_nodes.client_app.make_client_app`). The caller's hooks
travel with the job: ``on_round`` sees each round's report (the
coordinator's audit hook, progress lines) and ``client_mods`` wrap every
department's ClientApp (the department's audit hook).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from flwr.clientapp.typing import Mod

from coordinator.guard import RoundReport
from fedgov.job import TrainJob
from fedgov.run_record import RunRecord

__all__ = ["Engine"]


class Engine(Protocol):
    """Runs one federated training job to its end."""

    def run(
        self,
        job: TrainJob,
        *,
        on_round: Callable[[RoundReport], None] | None = None,
        client_mods: Sequence[Mod] = (),
    ) -> RunRecord:
        """Run ``job``; ``on_round`` and ``client_mods`` as the module says.

        An engine whose coordinator runs in another process calls
        ``on_round`` after the fact, from the run record, and refuses
        ``client_mods`` it cannot ship (see each engine).
        """
        ...
