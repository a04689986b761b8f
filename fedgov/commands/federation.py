"""``fedgov federation up|down|status``: a standing local federation.

``fedgov federation up --dataset randhie`` starts, in the background, a
SuperLink, one SuperNode and one department service per department of the
dataset (``--departments`` names fewer; ``--sources`` a folder of the
departments' own files for a dataset of your own) and the coordinator's
query service (one query run that stays open), all on 127.0.0.1, their
state under ``$FEDGOV_HOME/federation/`` and each department's budget book
and audit log in the county's state folder (``--state-dir``). While it is
up, ``fedgov query`` asks its query service and ``fedgov train`` submits
to it instead of starting an engine. ``status`` checks every process (exit
1 when one is down); ``down`` stops them all. See
:mod:`fedgov.engines.standing`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fedgov.commands.config import sources_from
from fedgov.county import default_state_dir
from fedgov.data import department_ids
from fedgov.engines.standing import (
    federation_down,
    federation_status,
    federation_up,
)
from fedgov.job_data import dataset_fields

__all__ = ["configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``fedgov federation``'s sub-commands."""
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start a standing local federation")
    up.add_argument(
        "--dataset",
        default="randhie",
        help="the dataset its departments hold: built-in (randhie, adult) or a "
        "declaration file (*.yaml) (default randhie)",
    )
    up.add_argument(
        "--departments",
        default="",
        help="comma-separated departments (default: the dataset's natural partition)",
    )
    up.add_argument(
        "--sources",
        help="a folder of <department>.csv / .parquet files, one per department",
    )
    up.add_argument(
        "--state-dir",
        default="",
        help="the departments' state folder (default: the county's)",
    )
    up.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for the start"
    )
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the standing federation")
    down.set_defaults(func=_down)
    status = actions.add_parser("status", help="check every process of it")
    status.set_defaults(func=_status)


def _up(args: argparse.Namespace) -> int:
    dataset, declaration = dataset_fields(args.dataset)
    departments = [d.strip() for d in args.departments.split(",") if d.strip()]
    if not departments:
        departments = [str(d) for d in department_ids(args.dataset)]
    started = time.monotonic()
    federation = federation_up(
        dataset=dataset,
        departments=departments,
        state_dir=Path(args.state_dir or default_state_dir()),
        sources=sources_from(args.sources),
        declaration=declaration,
        startup_timeout=args.timeout,
    )
    print(
        f"federation up in {time.monotonic() - started:.1f} s: SuperLink "
        f"{federation.address}, {len(federation.departments)} departments of "
        f"{federation.dataset} ({', '.join(federation.departments)}); state "
        f"{federation.state_dir}; `fedgov federation down` stops it"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    del args
    stopped = federation_down()
    if not stopped:
        print("no standing federation is running")
        return 0
    print(f"federation down: stopped {', '.join(stopped)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    del args
    status = federation_status()
    if status is None:
        print("no standing federation is running (`fedgov federation up`)")
        return 1
    federation = status.federation
    print(
        f"federation on {federation.address} ({federation.dataset}, state "
        f"{federation.state_dir}), up since "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(federation.started_at))}"
    )
    for name, pid in federation.processes.items():
        print(f"  {name:<32} pid {pid:<8} {'up' if status.processes[name] else 'DOWN'}")
    print(
        f"  SuperLink health: {'ok' if status.superlink_healthy else 'NOT ANSWERING'}"
    )
    print(
        f"  SuperNodes online: {status.nodes_online} of {len(federation.departments)}"
    )
    for department, answering in status.services_answering.items():
        state = "answering" if answering else "NOT ANSWERING"
        print(f"  service {department}: {state}")
    state = "answering" if status.query_service_answering else "NOT ANSWERING"
    print(f"  query service: {state}")
    print(
        "healthy" if status.healthy else "UNHEALTHY: `fedgov federation down`, then up"
    )
    return 0 if status.healthy else 1
