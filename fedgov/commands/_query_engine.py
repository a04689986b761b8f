"""``fedgov query``'s heavy paths: the analyst's signature, the simulation engine.

:mod:`fedgov.commands.query` loads this module only when a question needs
it: to build and sign the query with the analyst's key (``--analyst-key``;
the signed request covers the validated query, so the analyst's side builds
it), or to answer it in the simulation engine when no standing federation
is up. A signed question to a standing federation is then asked of its
query service like any other.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from coordinator.analytics import format_result
from coordinator.query_service import question_query
from fedgov.commands._analyst import analyst_access
from fedgov.commands.config import sources_from
from fedgov.commands.county import require_county
from fedgov.commands.query import print_answer, question_from_args, standing
from fedgov.engines.access import sign_query
from fedgov.engines.queries import run_simulated_query
from fedgov.job import TrainJob
from fedgov.questions import ask, questions_socket
from ledger.county_ledger import FROM_COUNTY, CountyLedger

if TYPE_CHECKING:
    import argparse

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run ``fedgov query`` with ``args``; the exit code."""
    question = question_from_args(args)
    query = question_query(question)
    county = None if args.ephemeral else require_county()
    purpose = args.purpose or TrainJob().purpose
    access = analyst_access(
        args.analyst_key, rpc=args.rpc, roles=args.roles, county=county
    )
    request = ""
    if access is not None:
        request = sign_query(
            query, access.analyst, access.roles.access_domain, purpose=purpose
        )
    if standing(args):
        # The service builds the same query from the same fields and id.
        signed = dataclasses.replace(
            question, query_id=query.query_id, access_request=request
        )
        return print_answer(ask(questions_socket(), signed), as_json=args.json)
    ledger = CountyLedger.ephemeral() if args.ephemeral else FROM_COUNTY
    result = run_simulated_query(
        query,
        state_dir=args.state_dir,
        budget_epsilon=args.budget_epsilon,
        confidence=args.confidence,
        timeout=args.timeout,
        num_cpus=args.num_cpus,
        ledger=ledger,
        purpose=purpose,
        sources=sources_from(args.sources),
        access_request=request,
        roles=access.roles if access is not None else None,
    )
    print(
        json.dumps(result.to_json(), indent=2) if args.json else format_result(result)
    )
    return 0 if result.answered else 1
