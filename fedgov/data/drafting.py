"""Draft a dataset declaration from a table's column names and types, for a person.

The draft holds what the table's structure says (each column's name, and a
kind suggested by the type the source stores) and the placeholder ``TODO``
wherever a person must decide from the dataset's codebook: roles,
classification, bounds, categories, the task, the unit of privacy. It never
holds a minimum, maximum or category list observed in the records: declared
bounds are what DP analytics clip to and what encoding scales by, so a bound
read off the records would move with one person's value and disclose it.
The loader rejects a declaration while any ``TODO`` is left.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fedgov.data._engine import Engine
from fedgov.data.checking import StoredType, stored_types
from fedgov.data.declaration import FORMAT_VERSION, PLACEHOLDER, valid_identifier

if TYPE_CHECKING:
    from fedgov.data.sources import Source

__all__ = ["draft_declaration"]

_HEADER = f"""\
# fedgov dataset declaration: a DRAFT written by `fedgov data draft`.
#
# It holds only the table's column names and a kind suggested by each column's
# stored type. Replace every {PLACEHOLDER} from the dataset's codebook and your
# data-protection rules; fedgov refuses the file while one is left.
#
# Never copy bounds or categories from the records (their minimum, maximum or
# the values that happen to occur): DP analytics clip sums and means to the
# declared bounds and encoding scales by them, so a bound taken from the data
# moves with one person's record and discloses it. Declare what the codebook
# allows (age 0-120, a score 0-100, the categories the form offers).
#
# kind:           integer | float | binary | categorical
# roles:          direct_identifier | quasi_identifier | sensitive | feature |
#                 label | partition | auxiliary (one or more)
# classification: public | internal | sensitive | core
# missing:        error (default) | impute (with fill_value) | keep
# transform:      none (default) | log1p | one_hot (categorical features)
# bins:           optional interior edges of a numeric feature's bands, from the
#                 codebook (e.g. [18, 65]), never from the records
# See docs/datasets.md, "Declaring your dataset".
"""


def draft_declaration(source: Source, *, name: str) -> str:
    """The YAML text of a declaration draft for the table ``source`` holds.

    Reads the table's column names and stored types only (DuckDB's
    ``DESCRIBE``), never an aggregate of its values.
    """
    with Engine(source) as engine:
        columns = stored_types(engine)
    dataset = name if valid_identifier(name) else PLACEHOLDER
    todo = _quote(PLACEHOLDER)
    lines = [
        _HEADER,
        f"fedgov_dataset: {FORMAT_VERSION}",
        f"name: {_quote(dataset)}",
        f"title: {todo}",
        "provenance:",
        f"  source: {_quote(f'{PLACEHOLDER}: who collects these records, and how')}",
        f"  licence: {_quote(f'{PLACEHOLDER}: the terms they are held under')}",
        "task:",
        f"  kind: {todo}  # binary | multiclass | regression",
        f"  summary: {_quote(f'{PLACEHOLDER}: what the model predicts, in one sentence')}",
        f"  label: {todo}  # a name for the label, e.g. any_visit",
        f"  column: {todo}  # the column it is computed from (role: label)",
        f"  description: {_quote(f'{PLACEHOLDER}: how the label is defined')}",
        "  # binary: greater_than: NUMBER or positive_values: [...];",
        "  # multiclass: classes: [...] (the label column's categories);",
        "  # regression: the label column's declared bounds scale the target.",
        "unit_of_privacy:",
        "  # The column that identifies a person (role direct_identifier, classification",
        "  # core) and how many records one person may have; or, instead of both,",
        "  # one_record_per_person: true",
        f"  column: {todo}",
        f"  max_records_per_unit: {todo}",
        "columns:",
    ]
    for column, stored in columns.items():
        lines += _column(column, stored)
    return "\n".join(lines) + "\n"


def _column(name: str, stored: StoredType) -> list[str]:
    todo = _quote(PLACEHOLDER)
    kind = _suggested_kind(stored)
    entry = [
        f"  - name: {_quote(name)}",
        f"    kind: {kind or todo}  # the source stores {stored.name}",
        f"    roles: [{todo}]",
        f"    classification: {todo}",
    ]
    if kind == "categorical":
        entry.append(
            f"    categories: [{todo}]  # every allowed value, from the codebook"
        )
    elif kind != "binary":
        entry.append(
            f"    bounds: [{todo}, {todo}]  # allowed [min, max], from the codebook"
        )
    entry.append(f"    description: {_quote(f'{PLACEHOLDER}: what {name} records')}")
    return entry


def _suggested_kind(stored: StoredType) -> str | None:
    if stored.name == "BOOLEAN":
        return "binary"
    if stored.is_integer:
        return "integer"
    if stored.is_number:
        return "float"
    if stored.is_text:
        return "categorical"
    return None


def _quote(text: str) -> str:
    # JSON strings are YAML double-quoted scalars: no name can break the file.
    return json.dumps(text, ensure_ascii=False)
