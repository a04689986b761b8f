"""Read a dataset declaration file into a typed :class:`~fedgov.data.spec.DatasetSpec`.

A declaration is one YAML document per dataset, written by a person from the
dataset's codebook (``docs/datasets.md``, "Declaring your dataset"). It is
the public contract between the coordinator and the departments: it says
what every column is and may hold, never what the records hold. This module
is the data layer's edge: everything after it takes typed objects.

Every rule is checked when the file is read, and a breach is a
:class:`~fedgov.data.errors.DeclarationError` naming the file, the line, the
key path (``columns[3].bounds``) and the rule. The rules of the schema
objects themselves (a categorical column needs categories, a direct
identifier is CORE, ...) are those of :mod:`fedgov.data.schema` and
:mod:`fedgov.data.spec`, reported at the key they concern. A value still
holding the draft placeholder ``TODO`` (``fedgov data draft``) is rejected.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import yaml

from fedgov.data.errors import DeclarationError, SchemaRuleError
from fedgov.data.schema import (
    Category,
    Classification,
    ColumnKind,
    ColumnRole,
    ColumnSpec,
    DatasetSchema,
    MissingPolicy,
    Transform,
)
from fedgov.data.spec import (
    DatasetSpec,
    DepartmentGroup,
    NaturalPartition,
    Reader,
    Retention,
    UnitOfPrivacy,
)
from fedgov.data.task import (
    Label,
    LabelRule,
    MulticlassLabel,
    RegressionTarget,
    TaskKind,
)
from fedgov.errors import ConfigurationError
from fedgov.types import DatasetId, DepartmentId

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "FORMAT_VERSION",
    "PLACEHOLDER",
    "declaration_digest",
    "load_declaration",
    "parse_declaration",
    "valid_identifier",
]

FORMAT_VERSION = 1
"""The declaration format this fedgov reads (``fedgov_dataset: 1``)."""

PLACEHOLDER = "TODO"
"""What a draft holds where a person must decide; rejected until replaced."""

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Column names as the query language and SQL read them unquoted.
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")
_MISSING = object()
_E = TypeVar("_E", bound=Enum)
_T = TypeVar("_T")


def valid_identifier(text: str) -> bool:
    """Whether ``text`` may name a dataset or a department (also a file name)."""
    return bool(_IDENTIFIER.match(text))


def declaration_digest(document: object) -> str:
    """SHA-256 (hex) of a parsed declaration: what it declares, not how it is written.

    The document is hashed as canonical JSON (keys sorted, every number as a
    float), so a copy re-indented, re-ordered or commented differently has
    the same digest, and any change to what it declares (a column's kind,
    bounds, role or class, the task, the unit of privacy) changes it.
    """
    canonical = json.dumps(
        _canonical(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return str(value)


def load_declaration(path: str | Path, *, reader: Reader | None = None) -> DatasetSpec:
    """The dataset declared in the YAML file ``path``.

    ``reader`` parses a built-in dataset's files; user datasets have none
    (their departments read their own sources).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DeclarationError(
            str(file), "", f"cannot read the declaration: {e}", line=None
        ) from e
    return parse_declaration(text, origin=str(file), reader=reader, path=file)


def parse_declaration(
    text: str,
    *,
    origin: str = "<text>",
    reader: Reader | None = None,
    path: Path | None = None,
) -> DatasetSpec:
    """The dataset declared in the YAML ``text``; ``origin`` names it in errors."""
    return _Declaration(_Document(text, origin), reader, path).spec()


class _Document:
    """A parsed YAML document that knows the line of every key path."""

    def __init__(self, text: str, origin: str) -> None:
        self.origin = origin
        self.lines: dict[str, int] = {}
        try:
            loader = yaml.SafeLoader(text)
            try:
                node = loader.get_single_node()
                self.data = {} if node is None else self._build(loader, node, "")
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark
            line = None if mark is None else mark.line + 1
            raise DeclarationError(
                origin, "", f"not valid YAML: {e.problem}", line=line
            ) from e
        except yaml.YAMLError as e:
            raise DeclarationError(origin, "", f"not valid YAML: {e}", line=None) from e

    def _build(self, loader: yaml.SafeLoader, node: yaml.Node, key: str) -> object:
        self.lines.setdefault(key, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            result: dict[str, object] = {}
            for key_node, value_node in node.value:
                name = loader.construct_object(key_node)
                if not isinstance(name, str):
                    self.fail(key, f"keys are text, got {name!r}", line=key_node)
                child = f"{key}.{name}" if key else name
                if name in result:
                    self.fail(child, "key given twice", line=key_node)
                self.lines[child] = key_node.start_mark.line + 1
                result[name] = self._build(loader, value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [
                self._build(loader, item, f"{key}[{i}]")
                for i, item in enumerate(node.value)
            ]
        value = loader.construct_object(node)
        plain = isinstance(node, yaml.ScalarNode) and node.style is None
        if isinstance(value, str) and plain and _NUMBER.match(value):
            # YAML 1.1 reads 1e6 as text; 1.2 (and every reader) as a number.
            return float(value)
        if isinstance(value, bool) and plain and node.value not in ("true", "false"):
            # YAML 1.1 reads yes/no/on/off as booleans: almost always a category.
            self.fail(
                key,
                f"YAML reads {node.value!r} as a boolean; write it in quotes "
                f"('{node.value}') for text, or true/false",
            )
        return value

    def line_of(self, key: str) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            parent = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", key)
            key = "" if parent == key else parent
        return self.lines.get("")

    def fail(self, key: str, rule: str, *, line: yaml.Node | None = None) -> NoReturn:
        at = self.line_of(key) if line is None else line.start_mark.line + 1
        raise DeclarationError(self.origin, key, rule, line=at)


class _Declaration:
    """Typed reading of one document, key path by key path."""

    def __init__(self, doc: _Document, reader: Reader | None, path: Path | None):
        self.doc = doc
        self.reader = reader
        self.path = path

    # -- typed access --------------------------------------------------------

    def mapping(
        self,
        value: object,
        key: str,
        *,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, object]:
        if not isinstance(value, dict):
            self.doc.fail(
                key, f"must be a mapping of keys to values, got {_kind(value)}"
            )
        for name in value:
            if name not in required and name not in optional:
                known = ", ".join((*required, *optional))
                self.doc.fail(_join(key, name), f"unknown key; known keys: {known}")
        for name in required:
            if name not in value:
                self.doc.fail(_join(key, name), "required key is missing")
        for name, item in value.items():
            self._reject_placeholder(item, _join(key, name))
        return value

    def _reject_placeholder(self, value: object, key: str) -> None:
        if isinstance(value, str) and value.strip().startswith(PLACEHOLDER):
            self.doc.fail(
                key,
                f"still the draft's placeholder {value!r}: a person must fill it in "
                "from the codebook (never from the records)",
            )
        if isinstance(value, list):
            for i, item in enumerate(value):
                self._reject_placeholder(item, f"{key}[{i}]")

    def text(self, value: object, key: str, *, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.doc.fail(key, f"must be non-empty text, got {_kind(value)}")
        return value

    def identifier(self, value: object, key: str) -> str:
        name = self.text(value, key)
        if not valid_identifier(name):
            self.doc.fail(
                key,
                f"{name!r} is not a valid name: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit (at most 100 characters)",
            )
        return name

    def column_name(self, value: object, key: str) -> str:
        name = self.text(value, key)
        if not _COLUMN_NAME.match(name):
            self.doc.fail(
                key,
                f"{name!r} is not a valid column name: letters, digits and '_', not "
                "starting with a digit (rename the column at its source)",
            )
        return name

    def number(self, value: object, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.doc.fail(key, f"must be a number, got {_kind(value)}")
        return float(value)

    def integer(self, value: object, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.doc.fail(key, f"must be an integer, got {_kind(value)}")
        return value

    def flag(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            self.doc.fail(key, f"must be true or false, got {_kind(value)}")
        return value

    def items(self, value: object, key: str) -> list[object]:
        if not isinstance(value, list) or not value:
            self.doc.fail(key, f"must be a non-empty list, got {_kind(value)}")
        return value

    def category(self, value: object, key: str) -> Category:
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.doc.fail(key, f"a category is text or an integer, got {_kind(value)}")
        return value

    def choice(self, value: object, key: str, enum: type[_E]) -> _E:
        options = [str(member.value) for member in enum]
        if not isinstance(value, str) or value not in options:
            self.doc.fail(key, f"must be one of {', '.join(options)}, got {value!r}")
        return enum(value)

    def built(self, key: str, make: Callable[[], _T]) -> _T:
        """``make()``, its schema rule breaches reported at ``key`` + their field."""
        try:
            return make()
        except DeclarationError:
            raise
        except SchemaRuleError as e:
            self.doc.fail(_join(key, e.field or ""), e.rule)
        except ConfigurationError as e:
            self.doc.fail(key, e.rule)

    # -- the document ----------------------------------------------------------

    def spec(self) -> DatasetSpec:
        top = self.mapping(
            self.doc.data,
            "",
            required=(
                "fedgov_dataset",
                "name",
                "title",
                "provenance",
                "task",
                "unit_of_privacy",
                "columns",
            ),
            optional=("split_key", "natural_partition", "public_test", "retention"),
        )
        version = top["fedgov_dataset"]
        if version != FORMAT_VERSION:
            self.doc.fail(
                "fedgov_dataset",
                f"this fedgov reads declaration format {FORMAT_VERSION}, got {version!r}",
            )
        dataset = DatasetId(self.identifier(top["name"], "name"))
        provenance = self.mapping(
            top["provenance"], "provenance", required=("source", "licence")
        )
        task = self.mapping(
            top["task"],
            "task",
            required=("kind", "summary", "label", "column", "description"),
            optional=("greater_than", "positive_values", "classes"),
        )
        columns = self.columns(top["columns"])
        label = self.label(task)
        schema = self.built("", lambda: DatasetSchema(dataset, columns, label))
        unit = self.unit(top["unit_of_privacy"])
        split_key = top.get("split_key", unit.column)
        if split_key is not None:
            split_key = self.text(split_key, "split_key")
        natural = top.get("natural_partition")
        public_test = self.flag(top.get("public_test", False), "public_test")
        retention = self.retention(top["retention"]) if "retention" in top else None
        return self.built(
            "",
            lambda: DatasetSpec(
                id=dataset,
                title=self.text(top["title"], "title"),
                schema=schema,
                source=self.text(provenance["source"], "provenance.source"),
                licence=self.text(provenance["licence"], "provenance.licence"),
                task=self.text(task["summary"], "task.summary"),
                unit=unit,
                natural_partition=None if natural is None else self.partition(natural),
                split_key=split_key,
                has_public_test=public_test,
                retention=retention,
                reader=self.reader,
                declaration=self.path,
                digest=declaration_digest(self.doc.data),
            ),
        )

    def columns(self, value: object) -> tuple[ColumnSpec, ...]:
        columns = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.items(value, "columns")):
            key = f"columns[{i}]"
            column = self.column(item, key)
            if column.name in seen:
                self.doc.fail(
                    f"{key}.name",
                    f"column {column.name!r} is already declared at columns[{seen[column.name]}]",
                )
            seen[column.name] = i
            columns.append(column)
        return tuple(columns)

    def column(self, value: object, key: str) -> ColumnSpec:
        entry = self.mapping(
            value,
            key,
            required=("name", "kind", "roles", "classification", "description"),
            optional=(
                "bounds",
                "categories",
                "missing",
                "fill_value",
                "transform",
                "bins",
            ),
        )
        roles = frozenset(
            self.choice(role, f"{key}.roles[{i}]", ColumnRole)
            for i, role in enumerate(self.items(entry["roles"], f"{key}.roles"))
        )
        bounds: tuple[float, float] | None = None
        if "bounds" in entry:
            pair = self.items(entry["bounds"], f"{key}.bounds")
            if len(pair) != 2:
                self.doc.fail(f"{key}.bounds", "must be [min, max]")
            bounds = (
                self.number(pair[0], f"{key}.bounds[0]"),
                self.number(pair[1], f"{key}.bounds[1]"),
            )
        categories: tuple[Category, ...] = ()
        if "categories" in entry:
            categories = tuple(
                self.category(c, f"{key}.categories[{i}]")
                for i, c in enumerate(
                    self.items(entry["categories"], f"{key}.categories")
                )
            )
        bins: tuple[float, ...] = ()
        if "bins" in entry:
            bins = tuple(
                self.number(edge, f"{key}.bins[{i}]")
                for i, edge in enumerate(self.items(entry["bins"], f"{key}.bins"))
            )
        fill = entry.get("fill_value")
        if fill is not None and (
            isinstance(fill, bool) or not isinstance(fill, str | int | float)
        ):
            self.doc.fail(
                f"{key}.fill_value", f"must be a number or text, got {_kind(fill)}"
            )
        return self.built(
            key,
            lambda: ColumnSpec(
                name=self.column_name(entry["name"], f"{key}.name"),
                kind=self.choice(entry["kind"], f"{key}.kind", ColumnKind),
                roles=roles,
                classification=self.choice(
                    entry["classification"], f"{key}.classification", Classification
                ),
                description=self.text(entry["description"], f"{key}.description"),
                bounds=bounds,
                categories=categories,
                missing=self.choice(
                    entry.get("missing", "error"), f"{key}.missing", MissingPolicy
                ),
                fill_value=fill,
                transform=self.choice(
                    entry.get("transform", "none"), f"{key}.transform", Transform
                ),
                bins=bins,
            ),
        )

    def label(self, task: Mapping[str, object]) -> Label:
        kind = self.choice(task["kind"], "task.kind", TaskKind)
        allowed = {
            TaskKind.BINARY: ("greater_than", "positive_values"),
            TaskKind.MULTICLASS: ("classes",),
            TaskKind.REGRESSION: (),
        }[kind]
        for name in ("greater_than", "positive_values", "classes"):
            if name in task and name not in allowed:
                self.doc.fail(f"task.{name}", f"not a key of a {kind} task")
        name = self.identifier(task["label"], "task.label")
        column = self.text(task["column"], "task.column")
        description = self.text(task["description"], "task.description")
        if kind is TaskKind.BINARY:
            threshold = task.get("greater_than")
            positive = task.get("positive_values", [])
            return self.built(
                "task",
                lambda: LabelRule(
                    name=name,
                    column=column,
                    description=description,
                    greater_than=None
                    if threshold is None
                    else self.number(threshold, "task.greater_than"),
                    positive_values=tuple(
                        self.category(v, f"task.positive_values[{i}]")
                        for i, v in enumerate(
                            self.items(positive, "task.positive_values")
                            if positive
                            else []
                        )
                    ),
                ),
            )
        if kind is TaskKind.MULTICLASS:
            classes = task.get("classes", _MISSING)
            if classes is _MISSING:
                self.doc.fail("task.classes", "a multi-class task lists its classes")
            return self.built(
                "task",
                lambda: MulticlassLabel(
                    name=name,
                    column=column,
                    description=description,
                    classes=tuple(
                        self.category(c, f"task.classes[{i}]")
                        for i, c in enumerate(self.items(classes, "task.classes"))
                    ),
                ),
            )
        return RegressionTarget(name=name, column=column, description=description)

    def unit(self, value: object) -> UnitOfPrivacy:
        key = "unit_of_privacy"
        entry = self.mapping(
            value,
            key,
            required=(),
            optional=("column", "max_records_per_unit", "one_record_per_person"),
        )
        one = entry.get("one_record_per_person", False)
        if ("column" in entry) == self.flag(one, f"{key}.one_record_per_person"):
            self.doc.fail(
                key,
                "declare either the column that identifies a person (column, with "
                "max_records_per_unit) or one_record_per_person: true",
            )
        if one:
            if "max_records_per_unit" in entry:
                self.doc.fail(
                    f"{key}.max_records_per_unit",
                    "one record per person: there is no maximum to declare",
                )
            return UnitOfPrivacy(column=None)
        column = self.text(entry["column"], f"{key}.column")
        records = self.integer(
            entry.get("max_records_per_unit", 1), f"{key}.max_records_per_unit"
        )
        return self.built(
            "", lambda: UnitOfPrivacy(column=column, max_records_per_unit=records)
        )

    def retention(self, value: object) -> Retention:
        entry = self.mapping(
            value, "retention", required=("days", "description"), optional=()
        )
        days = self.integer(entry["days"], "retention.days")
        description = self.text(entry["description"], "retention.description")
        return self.built("", lambda: Retention(days=days, description=description))

    def partition(self, value: object) -> NaturalPartition:
        key = "natural_partition"
        entry = self.mapping(
            value, key, required=("column", "description", "departments")
        )
        departments = entry["departments"]
        if not isinstance(departments, dict) or not departments:
            self.doc.fail(
                f"{key}.departments",
                "must map each department to the partition column's values it holds",
            )
        groups = tuple(
            DepartmentGroup(
                DepartmentId(self.identifier(name, f"{key}.departments.{name}")),
                tuple(
                    self.category(v, f"{key}.departments.{name}[{i}]")
                    for i, v in enumerate(
                        self.items(values, f"{key}.departments.{name}")
                    )
                ),
            )
            for name, values in departments.items()
        )
        return self.built(
            "",
            lambda: NaturalPartition(
                column=self.text(entry["column"], f"{key}.column"),
                groups=groups,
                description=self.text(entry["description"], f"{key}.description"),
            ),
        )


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key and name else key or name


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
