"""``fedgov query``: ask the departments one federated DP analytics query.

``fedgov query histogram --dataset randhie --column mdvis --bins
0,1,2,5,10,20,80 --group-by female --epsilon 0.5 --state-dir runs/state``
runs the query in the simulation engine (one simulated SuperNode per
department, each charging its own budget book under ``--state-dir``, by
default the county's) and prints the combined table with error bars, then
what each department spent. While a standing federation is up (``fedgov
federation up``), the query is submitted to it instead: its departments,
already warm, answer from their own state folder. Both sides' audit records are anchored on the
county's chain (``--ephemeral``: an in-process chain that ends with the
command). A dataset of your own: ``--dataset clinics.yaml --sources
departments/`` (a folder of ``<department>.csv`` or ``.parquet`` files).
``--json`` prints the same as JSON. An invalid query is refused before any
department is asked (exit 1); a query no department answered exits 1 too.
With ``--analyst-key`` the query carries the analyst's signed request for
``--purpose`` (:mod:`fedgov.commands._analyst`), which departments with an
access policy require.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

from coordinator.analytics import format_result
from fedgov.commands._analyst import add_analyst_arguments, analyst_access
from fedgov.commands.config import sources_from
from fedgov.commands.county import require_county
from fedgov.engines.access import sign_query
from fedgov.engines.queries import run_simulated_query, run_standing_query
from fedgov.engines.standing import StandingFederation
from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant, TrainJob, parse_accountant
from ledger.county_ledger import FROM_COUNTY, CountyLedger
from privacy.mechanisms import QUERY_KINDS, Predicate, Query, QueryKind

__all__ = ["build_query", "configure"]

DEFAULT_CONFIDENCE = 0.95


def _numbers(argument: str) -> Callable[[str], tuple[float, ...]]:
    def parse(text: str) -> tuple[float, ...]:
        try:
            return tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError as e:
            raise argparse.ArgumentTypeError(
                f"{argument} takes comma-separated numbers, got {text!r}"
            ) from e

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``fedgov query``'s arguments."""
    parser.add_argument("kind", choices=QUERY_KINDS, help="the aggregate to release")
    parser.add_argument(
        "--dataset",
        required=True,
        help="a built-in dataset (randhie, adult) or a declaration file (*.yaml)",
    )
    parser.add_argument(
        "--sources",
        help="a folder of <department>.csv / <department>.parquet files, one per "
        "department (default: a built-in dataset's installed files)",
    )
    parser.add_argument("--column", help="the measured column (not for count)")
    parser.add_argument(
        "--group-by", help="a PUBLIC/INTERNAL categorical or binary column"
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep records matching EXPR, e.g. 'xage>=65' (repeatable: all must hold)",
    )
    parser.add_argument(
        "--bins",
        type=_numbers("--bins"),
        default=(),
        help="histogram/quantile bin edges covering the column's bounds, e.g. 0,1,2,5,80",
    )
    parser.add_argument(
        "--quantiles",
        type=_numbers("--quantiles"),
        default=(0.25, 0.5, 0.75),
        help="probabilities for a quantiles query (default 0.25,0.5,0.75)",
    )
    parser.add_argument(
        "--rows-per-person",
        type=int,
        help="records counted per person (default: the declared max_records_per_unit, "
        "5 for randhie)",
    )
    parser.add_argument(
        "--epsilon", type=float, required=True, help="epsilon each department spends"
    )
    parser.add_argument(
        "--delta", type=float, default=1e-5, help="delta (default 1e-5)"
    )
    parser.add_argument(
        "--accountant",
        choices=[a.value for a in Accountant],
        default=DEFAULT_ACCOUNTANT.value,
        help=f"calibrates the noise and accounts the spend "
        f"(default {DEFAULT_ACCOUNTANT.value}; docs/analytics.md)",
    )
    parser.add_argument(
        "--query-id", default="", help="label of the spend in the ledgers"
    )
    parser.add_argument(
        "--state-dir",
        default="",
        help="where the simulated departments keep their budget books "
        "(default: the county's state folder)",
    )
    parser.add_argument(
        "--purpose", help="the declared purpose the query is audited under"
    )
    parser.add_argument(
        "--ephemeral",
        action="store_true",
        help="no county: anchor on an in-process chain that ends with the command",
    )
    parser.add_argument(
        "--budget-epsilon",
        type=float,
        help="lifetime limit a department sets on first use of the dataset",
    )
    parser.add_argument(
        "--confidence",
        type=float,
        default=DEFAULT_CONFIDENCE,
        help=f"interval level (default {DEFAULT_CONFIDENCE})",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for the answers"
    )
    parser.add_argument("--num-cpus", type=int, help="CPUs for the simulation engine")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_analyst_arguments(parser, purpose=False)
    parser.set_defaults(func=_run)


def build_query(args: argparse.Namespace) -> Query:
    """The validated :class:`Query` the arguments describe."""
    kind = cast(QueryKind, args.kind)
    return Query(
        kind=kind,
        dataset=args.dataset,
        column=args.column,
        group_by=args.group_by,
        where=tuple(Predicate.parse(text) for text in args.where),
        bins=tuple(args.bins),
        quantiles=tuple(args.quantiles) if kind == "quantiles" else (),
        rows_per_person=args.rows_per_person,
        query_id=args.query_id,
        epsilon=args.epsilon,
        delta=args.delta,
        accountant=parse_accountant(args.accountant),
    )


def _check_standing(args: argparse.Namespace, federation: StandingFederation) -> None:
    # The standing departments' settings are those given to `federation up`.
    if args.sources:
        raise ConfigurationError(
            "--sources",
            "the standing federation's departments read the sources given to "
            "`fedgov federation up`",
        )
    if args.state_dir and Path(args.state_dir).resolve() != Path(federation.state_dir):
        raise ConfigurationError(
            "--state-dir",
            f"the standing federation's departments keep their books in "
            f"{federation.state_dir}",
        )
    if args.confidence != DEFAULT_CONFIDENCE or args.num_cpus is not None:
        raise ConfigurationError(
            "--confidence/--num-cpus",
            f"a standing federation's ServerApp reports {DEFAULT_CONFIDENCE:.0%} "
            "intervals on its own processes",
        )


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.confidence < 1:
        raise ConfigurationError("--confidence", "must lie strictly between 0 and 1")
    query = build_query(args)
    ledger: CountyLedger | str = FROM_COUNTY
    county = None
    if args.ephemeral:
        ledger = CountyLedger.ephemeral()
    else:
        county = require_county()
    purpose = args.purpose or TrainJob().purpose
    access = analyst_access(
        args.analyst_key, rpc=args.rpc, roles=args.roles, county=county
    )
    request = ""
    if access is not None:
        request = sign_query(
            query, access.analyst, access.roles.access_domain, purpose=purpose
        )
    federation = None if args.ephemeral else StandingFederation.find()
    if federation is not None:
        _check_standing(args, federation)
        result = run_standing_query(
            query,
            federation,
            budget_epsilon=args.budget_epsilon,
            timeout=args.timeout,
            purpose=purpose,
            access_request=request,
        )
        print(
            json.dumps(result.to_json(), indent=2)
            if args.json
            else format_result(result)
        )
        return 0 if result.answered else 1
    result = run_simulated_query(
        query,
        state_dir=args.state_dir,
        budget_epsilon=args.budget_epsilon,
        confidence=args.confidence,
        timeout=args.timeout,
        num_cpus=args.num_cpus,
        ledger=ledger,  # type: ignore[arg-type]
        purpose=purpose,
        sources=sources_from(args.sources),
        access_request=request,
        roles=access.roles if access is not None else None,
    )
    print(
        json.dumps(result.to_json(), indent=2) if args.json else format_result(result)
    )
    return 0 if result.answered else 1
