"""Tests of privacy.boundary: the outgoing-message rules and the Flower mod.

Most tests are replies that try to leak: a raw row, a sensitive column in a
metric key, an extra array, the data matrix disguised as a parameter, an
Array whose labels lie about its bytes. The legitimate replies next to them
show the rules do not refuse what a department must send.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.clientapp import ClientApp
from flwr.common.constant import ErrorCode
from flwr.supercore.task_identity import TaskIdentity
from hypothesis import given
from hypothesis import strategies as st

from fedgov.data import Classification, ColumnKind, ColumnRole, ColumnSpec
from fedgov.errors import ConfigurationError
from privacy.boundary import (
    BoundaryGuard,
    BoundaryPolicy,
    aggregate_key,
    check_outgoing,
    declared_parameters,
)
from privacy.errors import BoundaryViolationError

if TYPE_CHECKING:
    from collections.abc import Iterator

ROWS, COLS = 40, 5


def _column(
    name: str,
    roles: set[ColumnRole],
    classification: Classification,
    kind: ColumnKind = ColumnKind.FLOAT,
) -> ColumnSpec:
    bounds = None if kind is ColumnKind.BINARY else (0.0, 1e6)
    return ColumnSpec(
        name=name,
        kind=kind,
        roles=frozenset(roles),
        classification=classification,
        description=name,
        bounds=bounds,
    )


COLUMNS = (
    _column("person_id", {ColumnRole.DIRECT_IDENTIFIER}, Classification.CORE),
    _column(
        "age",
        {ColumnRole.QUASI_IDENTIFIER, ColumnRole.FEATURE},
        Classification.INTERNAL,
    ),
    _column("year", {ColumnRole.FEATURE}, Classification.PUBLIC),
    _column(
        "income", {ColumnRole.SENSITIVE, ColumnRole.FEATURE}, Classification.SENSITIVE
    ),
    _column(
        "hiv_status",
        {ColumnRole.SENSITIVE, ColumnRole.LABEL},
        Classification.SENSITIVE,
        ColumnKind.BINARY,
    ),
)


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(COLS, 8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.out = torch.nn.Linear(8, 1)


MODEL = _Model()
DATA = np.random.default_rng(0).normal(size=(ROWS, COLS)).astype(np.float32)


def _policy(**overrides: object) -> BoundaryPolicy:
    settings: dict[str, object] = {
        "parameters": declared_parameters(MODEL.state_dict()),
        "columns": COLUMNS,
        "allowed_keys": frozenset(
            {"num-examples", "train-loss", "department", "status"}
        ),
        "free_text_keys": frozenset({"reason"}),
        "local_shape": (ROWS, COLS),
    }
    settings.update(overrides)
    return BoundaryPolicy(**settings)  # type: ignore[arg-type]


POLICY = _policy()


def _legit() -> RecordDict:
    return RecordDict(
        {
            "arrays": ArrayRecord(MODEL.state_dict()),
            "metrics": MetricRecord(
                {
                    "num-examples": ROWS,
                    "train-loss": 0.25,
                    "mean:age": 41.5,
                    "count:year": 40,
                }
            ),
            "fedgov": ConfigRecord(
                {
                    "department": "health-site-1",
                    "status": "refused",
                    "reason": "privacy budget of department 'health-site-1' on dataset "
                    "'randhie' would be exceeded: spent epsilon 7.9, limit 8.0",
                }
            ),
        }
    )


def _rules(
    content: RecordDict, policy: BoundaryPolicy = POLICY
) -> set[tuple[str, str | None]]:
    with pytest.raises(BoundaryViolationError) as caught:
        check_outgoing(content, policy)
    return {(v.rule, v.key) for v in caught.value.violations}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# -- check_outgoing ----------------------------------------------------------------


def test_legitimate_training_reply_passes() -> None:
    # Act / Assert: no exception
    check_outgoing(_legit(), POLICY)


def test_legitimate_reply_of_numpy_parameters_passes() -> None:
    # Prepare: parameters declared from numpy arrays rather than torch.
    arrays = {
        "w": np.zeros((3, 2), dtype=np.float64),
        "b": np.zeros(3, dtype=np.float64),
    }
    policy = _policy(parameters=declared_parameters(arrays))

    # Act / Assert
    record = ArrayRecord({name: Array(value) for name, value in arrays.items()})
    check_outgoing(RecordDict({"arrays": record}), policy)


def test_raw_row_in_a_config_record_is_refused() -> None:
    # Prepare: one record, column by column.
    row = {"person_id": 1042, "age": 37, "income": 52000.0, "hiv_status": 1}
    content = RecordDict({"fedgov": ConfigRecord(row)})  # type: ignore[arg-type]

    # Act
    rules = _rules(content)

    # Assert
    assert rules == {
        ("sensitive-mention", "person_id"),
        ("sensitive-mention", "income"),
        ("sensitive-mention", "hiv_status"),
        ("unlisted-key", "age"),
    }


@pytest.mark.parametrize(
    "key",
    [
        "mean:income",
        "sum:hiv_status",
        "count:person_id",
        "income-mean",
        "meanIncome",
        "HIV status",
    ],
)
def test_sensitive_column_in_a_metric_key_is_refused(key: str) -> None:
    # Prepare
    content = RecordDict({"metrics": MetricRecord({key: 1.0})})

    # Act
    rules = _rules(content)

    # Assert
    assert ("sensitive-mention", key) in rules


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("mean:age", True),
        ("histogram:year", True),
        ("max:age", False),
        ("mean:height", False),
        ("age", False),
        ("loss", False),
    ],
)
def test_aggregate_keys_of_allowed_columns_only(key: str, allowed: bool) -> None:
    # Prepare
    content = RecordDict({"metrics": MetricRecord({key: 1.0})})

    # Act / Assert
    if allowed:
        check_outgoing(content, POLICY)
    else:
        assert _rules(content) == {("unlisted-key", key)}


def test_added_aggregate_ops_are_honoured() -> None:
    # Prepare
    policy = _policy(aggregate_ops=frozenset({"max"}))

    # Act / Assert
    check_outgoing(
        RecordDict({"metrics": MetricRecord({aggregate_key("max", "age"): 90})}), policy
    )


def test_sensitive_column_in_a_string_value_is_refused() -> None:
    # Prepare: a free-text reason quoting a column.
    reason = "skipped: Income was missing for 3 residents"
    content = RecordDict({"fedgov": ConfigRecord({"reason": reason})})

    # Act / Assert
    assert _rules(content) == {("sensitive-mention", "reason")}


def test_sensitive_column_in_a_record_name_is_refused() -> None:
    # Prepare
    content = RecordDict({"income-stats": MetricRecord({"num-examples": 3})})

    # Act / Assert
    assert _rules(content) == {("sensitive-mention", None)}


def test_long_strings_are_refused_free_text_has_a_larger_limit() -> None:
    # Prepare
    content = RecordDict(
        {
            "fedgov": ConfigRecord(
                {"status": "x" * 65, "reason": "y" * 512, "department": "d"}
            )
        }
    )
    too_long = RecordDict({"fedgov": ConfigRecord({"reason": "y" * 513})})

    # Act / Assert
    assert _rules(content) == {("string-too-long", "status")}
    assert _rules(too_long) == {("string-too-long", "reason")}


def test_lists_of_strings_are_screened_item_by_item() -> None:
    # Prepare
    content = RecordDict({"fedgov": ConfigRecord({"status": ["ok", "hiv-status"]})})

    # Act / Assert
    assert _rules(content) == {("sensitive-mention", "status")}


def test_a_column_disguised_as_a_list_metric_is_refused() -> None:
    # Prepare: the whole local column of ages, as a "histogram".
    ages = [float(v) for v in DATA[:, 0]]
    content = RecordDict({"metrics": MetricRecord({"histogram:age": ages})})

    # Act / Assert
    assert _rules(content) == {("record-table", "histogram:age")}


def test_long_lists_are_refused() -> None:
    # Prepare
    content = RecordDict({"metrics": MetricRecord({"histogram:age": [1] * 65})})

    # Act / Assert
    assert _rules(content) == {("list-too-long", "histogram:age")}


def test_bytes_only_under_declared_keys() -> None:
    # Prepare
    content = RecordDict({"fedgov": ConfigRecord({"status": b"\x00" * 10})})

    # Act / Assert
    assert _rules(content) == {("bytes-value", "status")}
    check_outgoing(content, _policy(bytes_keys=frozenset({"status"})))


def test_an_extra_array_is_refused() -> None:
    # Prepare
    arrays = ArrayRecord(MODEL.state_dict())
    arrays["embedding_dump"] = Array(np.zeros((7, 3), dtype=np.float32))

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {
        ("undeclared-array", "embedding_dump")
    }


def test_the_data_matrix_disguised_as_a_parameter_is_refused() -> None:
    # Prepare: the local table under a declared parameter's name.
    arrays = ArrayRecord(MODEL.state_dict())
    arrays["fc.weight"] = Array(DATA)

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {("record-table", "fc.weight")}


def test_a_transposed_or_single_column_table_is_also_recognised() -> None:
    # Prepare
    arrays = ArrayRecord(
        {
            "extra_t": Array(np.ascontiguousarray(DATA.T)),
            "extra_col": Array(DATA[:, 0].copy()),
        }
    )

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {
        ("record-table", "extra_t"),
        ("record-table", "extra_col"),
    }


def test_array_whose_labels_lie_about_its_bytes_is_refused() -> None:
    # Prepare: labelled as fc.weight (8 x 5 float32), carrying the data table.
    forged = Array(
        dtype="float32", shape=(8, COLS), stype="numpy.ndarray", data=_npy(DATA)
    )
    arrays = ArrayRecord(MODEL.state_dict())
    arrays["fc.weight"] = forged

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {("array-encoding", "fc.weight")}


def test_bytes_smuggled_after_a_genuine_parameter_are_refused() -> None:
    # Prepare
    weight = MODEL.state_dict()["fc.weight"].numpy()
    smuggled = Array(
        dtype="float32",
        shape=tuple(weight.shape),
        stype="numpy.ndarray",
        data=_npy(weight) + DATA.tobytes(),
    )
    arrays = ArrayRecord(MODEL.state_dict())
    arrays["fc.weight"] = smuggled

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {("array-encoding", "fc.weight")}


@pytest.mark.parametrize(
    ("stype", "data"),
    [
        ("numpy.ndarray", b"not an npy file"),
        ("torch.pickle", b"\x80\x04"),
        ("numpy.ndarray", b""),
    ],
    ids=["garbage", "other-serialisation", "empty"],
)
def test_undecodable_arrays_are_refused(stype: str, data: bytes) -> None:
    # Prepare
    arrays = ArrayRecord(MODEL.state_dict())
    arrays["fc.bias"] = Array(dtype="float32", shape=(8,), stype=stype, data=data)

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {("array-encoding", "fc.bias")}


def test_object_arrays_are_refused() -> None:
    # Prepare: the header of an object array (its body would be a pickle).
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": (8,)}
    )
    forged = Array(
        dtype="object", shape=(8,), stype="numpy.ndarray", data=header.getvalue()
    )
    arrays = ArrayRecord({"fc.bias": forged})

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {("array-encoding", "fc.bias")}


def test_wrong_shape_and_dtype_are_refused() -> None:
    # Prepare
    arrays = ArrayRecord(
        {
            "fc.bias": Array(np.zeros(9, dtype=np.float32)),
            "out.bias": Array(np.zeros(1, dtype=np.float64)),
        }
    )

    # Act / Assert
    assert _rules(RecordDict({"arrays": arrays})) == {
        ("array-shape", "fc.bias"),
        ("array-dtype", "out.bias"),
    }


def test_findings_never_quote_values() -> None:
    # Prepare
    content = RecordDict(
        {
            "fedgov": ConfigRecord(
                {"reason": "income of Jane Roe-Smith", "ssn": "123-45-6789"}
            )
        }
    )

    # Act
    with pytest.raises(BoundaryViolationError) as caught:
        check_outgoing(content, POLICY)

    # Assert
    assert "Jane" not in str(caught.value)
    assert "123-45" not in str(caught.value)


def test_policy_refuses_allow_listing_a_sensitive_name() -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="allowed_keys"):
        _policy(allowed_keys=frozenset({"income_total"}))


def test_policy_warns_when_a_parameter_has_the_data_shape() -> None:
    # Act / Assert
    with pytest.warns(UserWarning, match="local data's shape"):
        _policy(
            parameters=declared_parameters({"w": np.zeros((ROWS, COLS), np.float32)})
        )


def test_policy_limits_are_validated() -> None:
    # Act / Assert
    with pytest.raises(ConfigurationError, match="max_list_length"):
        _policy(max_list_length=0)
    with pytest.raises(ConfigurationError, match="max_free_text_length"):
        _policy(max_string_length=100, max_free_text_length=50)


def test_policy_classes_columns() -> None:
    # Assert
    assert POLICY.forbidden == {"person_id", "income", "hiv_status"}
    assert POLICY.aggregatable == {"age", "year"}


@given(
    prefix=st.sampled_from(["", "mean:", "the ", "log_", "x-"]),
    suffix=st.sampled_from(["", "_v2", " total", ".", "-ratio"]),
    column=st.sampled_from(["income", "hiv_status", "person_id"]),
    style=st.sampled_from(["snake", "upper", "camel", "spaced"]),
)
def test_mentions_survive_case_and_separators(
    prefix: str, suffix: str, column: str, style: str
) -> None:
    # Prepare
    words = column.split("_")
    spelled = {
        "snake": column,
        "upper": column.upper(),
        "camel": words[0] + "".join(w.title() for w in words[1:]),
        "spaced": " ".join(words),
    }[style]

    # Act / Assert
    assert POLICY.mentions(prefix + spelled + suffix) == (column,)


@pytest.mark.parametrize(
    "text", ["incomes", "hivstatus", "person", "outcome", "train-loss"]
)
def test_mentions_are_whole_words(text: str) -> None:
    # Act / Assert
    assert POLICY.mentions(text) == ()


# -- the mod ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _task_identity() -> Iterator[None]:
    # Flower stamps messages with the running task's identity; tests have none.
    saved = TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 1, 1
    yield
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _incoming() -> Message:
    content = RecordDict({"arrays": ArrayRecord(MODEL.state_dict())})
    return Message(content=content, dst_node_id=1, message_type=MessageType.TRAIN)


def _context() -> Context:
    return Context(
        run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={}
    )


def test_mod_lets_a_legitimate_reply_out() -> None:
    # Prepare
    msg = _incoming()
    reply = Message(_legit(), reply_to=msg)

    # Act
    out = BoundaryGuard(POLICY)(msg, _context(), lambda m, c: reply)

    # Assert
    assert out is reply


def test_mod_replaces_a_leaking_reply_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Prepare
    msg = _incoming()
    leaking = _legit()
    leaking.metric_records["metrics"]["mean:income"] = 52000.0
    leaking.array_records["arrays"]["fc.weight"] = Array(DATA)

    # Act
    with caplog.at_level(logging.ERROR, logger="privacy.boundary"):
        out = BoundaryGuard(POLICY)(
            msg, _context(), lambda m, c: Message(leaking, reply_to=m)
        )

    # Assert
    assert out.has_error()
    assert not out.has_content()
    assert out.error.code == ErrorCode.MOD_FAILED_PRECONDITION
    assert "record-table" in str(out.error.reason)
    assert "sensitive-mention" in str(out.error.reason)
    assert "income" not in str(out.error.reason)
    assert "mean:income" in caplog.text
    assert out.metadata.reply_to_message_id == msg.metadata.message_id


def test_mod_hides_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    # Prepare
    def crashing(msg: Message, context: Context) -> Message:
        raise ValueError("could not convert 'Jane Roe' to float")

    # Act
    with caplog.at_level(logging.ERROR, logger="privacy.boundary"):
        out = BoundaryGuard(POLICY)(_incoming(), _context(), crashing)

    # Assert
    assert out.error.code == ErrorCode.CLIENT_APP_RAISED_EXCEPTION
    assert "ValueError" in str(out.error.reason)
    assert "Jane" not in str(out.error.reason)
    assert "Jane Roe" in caplog.text


@pytest.mark.parametrize(
    ("reason", "kept"),
    [("budget exhausted", True), ("hiv_status missing", False), ("z" * 600, False)],
)
def test_mod_screens_error_reasons(reason: str, kept: bool) -> None:
    # Prepare
    msg = _incoming()
    failed = Message(Error(code=ErrorCode.UNKNOWN, reason=reason), reply_to=msg)

    # Act
    out = BoundaryGuard(POLICY)(msg, _context(), lambda m, c: failed)

    # Assert
    assert out.error.code == ErrorCode.UNKNOWN
    assert (out.error.reason == reason) is kept


def test_mod_refuses_before_processing_when_the_policy_cannot_be_built() -> None:
    # Prepare
    calls: list[Message] = []

    def factory(msg: Message, context: Context) -> BoundaryPolicy:
        raise KeyError("model")

    def app(msg: Message, context: Context) -> Message:
        calls.append(msg)
        return Message(_legit(), reply_to=msg)

    # Act
    out = BoundaryGuard(factory)(_incoming(), _context(), app)

    # Assert
    assert out.error.code == ErrorCode.MOD_FAILED_PRECONDITION
    assert calls == []


def test_mod_in_a_client_app_uses_the_policy_factory() -> None:
    # Prepare: a ClientApp whose train sends the local table as "arrays".
    seen: list[int] = []

    def factory(msg: Message, context: Context) -> BoundaryPolicy:
        seen.append(context.node_id)
        return POLICY

    app = ClientApp(mods=[BoundaryGuard(factory)])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        records = ArrayRecord({"records": Array(DATA)})
        return Message(RecordDict({"arrays": records}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return Message(
            RecordDict({"metrics": MetricRecord({"num-examples": 3})}), reply_to=msg
        )

    evaluate_msg = Message(
        content=RecordDict(), dst_node_id=1, message_type=MessageType.EVALUATE
    )

    # Act
    trained = app(_incoming(), _context())
    evaluated = app(evaluate_msg, _context())

    # Assert
    assert trained.has_error()
    assert "record-table" in str(trained.error.reason)
    assert evaluated.has_content()
    assert seen == [1, 1]
