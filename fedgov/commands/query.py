"""``fedgov query``: ask the departments one federated DP analytics query.

``fedgov query histogram --dataset randhie --column mdvis --bins
0,1,2,5,10,20,80 --group-by female --epsilon 0.5 --state-dir runs/state``
runs the query in the simulation engine (one simulated SuperNode per
department, each charging its own budget book under ``--state-dir``, by
default the county's) and prints the combined table with error bars, then
what each department spent. While a standing federation is up (``fedgov
federation up``), the question goes to its coordinator's query service
instead (:mod:`fedgov.questions`), whose departments, already warm, answer
from their own state folder; this path imports no more than this module
needs, so it costs a Python start. A standing federation whose query
service does not answer is an error (``fedgov federation status``), never
a silent fall back to the simulation engine: the analyst asked the
departments that are up. Both sides' audit records are anchored on the
county's chain (``--ephemeral``: no federation, an in-process chain that
ends with the command). A dataset of your own: ``--dataset clinics.yaml
--sources departments/`` (a folder of ``<department>.csv`` or ``.parquet``
files). ``--json`` prints the same as JSON. An invalid query is refused
before any department is asked (exit 1); a query no department answered
exits 1 too. With ``--analyst-key`` the query carries the analyst's signed
request for ``--purpose`` (:mod:`fedgov.commands._query_engine` builds and
signs it), which departments with an access policy require.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

from fedgov.commands._arguments import add_analyst_arguments
from fedgov.errors import ConfigurationError
from fedgov.job import DEFAULT_ACCOUNTANT, Accountant
from fedgov.questions import (
    FEDERATION_RECORD,
    QUERY_KINDS,
    Question,
    ask,
    federation_folder,
    questions_socket,
)

__all__ = [
    "DEFAULT_CONFIDENCE",
    "configure",
    "print_answer",
    "question_from_args",
    "standing",
]

DEFAULT_CONFIDENCE = 0.95

_ENGINE = "fedgov.commands._query_engine"
"""What signs a query or runs the simulation engine: torch, Opacus, Flower.
Loaded by name only on those paths, as :mod:`fedgov.cli` loads a command, so
that a question to a standing federation never imports them."""


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


def question_from_args(
    args: argparse.Namespace, *, access_request: str = ""
) -> Question:
    """The :class:`Question` the arguments ask (validated where it is answered)."""
    dataset = str(args.dataset)
    if dataset.endswith((".yaml", ".yml")):
        # The service runs in another working directory.
        dataset = str(Path(dataset).resolve())
    return Question(
        kind=str(args.kind),
        dataset=dataset,
        epsilon=float(args.epsilon),
        delta=float(args.delta),
        column=args.column,
        group_by=args.group_by,
        where=tuple(args.where),
        bins=tuple(args.bins),
        quantiles=tuple(args.quantiles) if args.kind == "quantiles" else (),
        rows_per_person=args.rows_per_person,
        query_id=args.query_id,
        accountant=str(args.accountant),
        purpose=args.purpose,
        budget_epsilon=args.budget_epsilon,
        access_request=access_request,
        state_dir=str(Path(args.state_dir).resolve()) if args.state_dir else "",
        timeout=float(args.timeout),
    )


def standing(args: argparse.Namespace) -> bool:
    """Whether the question goes to a standing federation (one is recorded).

    Refuses the options a standing federation's departments were given at
    ``fedgov federation up``.
    """
    if args.ephemeral or not (federation_folder() / FEDERATION_RECORD).exists():
        return False
    if args.sources:
        raise ConfigurationError(
            "--sources",
            "the standing federation's departments read the sources given to "
            "`fedgov federation up`",
        )
    if args.confidence != DEFAULT_CONFIDENCE or args.num_cpus is not None:
        raise ConfigurationError(
            "--confidence/--num-cpus",
            f"a standing federation's query service reports "
            f"{DEFAULT_CONFIDENCE:.0%} intervals on its own processes",
        )
    return True


def print_answer(answer: dict[str, object], *, as_json: bool) -> int:
    """Print the service's answer as ``fedgov query`` does; the exit code."""
    print(json.dumps(answer["result"], indent=2) if as_json else answer["text"])
    return 0 if answer["answered"] else 1


def _run(args: argparse.Namespace) -> int:
    if not 0 < args.confidence < 1:
        raise ConfigurationError("--confidence", "must lie strictly between 0 and 1")
    if standing(args) and args.analyst_key is None:
        return print_answer(
            ask(questions_socket(), question_from_args(args)), as_json=args.json
        )
    engine = importlib.import_module(_ENGINE)
    return cast(Callable[[argparse.Namespace], int], engine.run)(args)
