"""Tests of privacy.tracing on real records: 20 recipients of a k-anonymous
extract of Adult's largest department, leaked copies edited as copies are,
attacks on the marks, and the sealed records."""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.bench.watermark import ADULT_CARRIERS, adult_extract, leak
from fedgov.data import DataValidationError, get_dataset
from fedgov.errors import ConfigurationError
from privacy.at_rest import InsecurePlaintextWarning
from privacy.errors import (
    IntegrityError,
    KeyMaterialError,
    ReleaseRecordError,
    ReleaseRefusedError,
)
from privacy.tracing import (
    Release,
    ReleaseRegistry,
    TraceReport,
    make_release,
    read_leaked,
    trace_leak,
)
from privacy.watermark import MarkLayout, publish

DEPARTMENT = "civil-affairs-private"
OTHER_DEPARTMENT = "civil-affairs-local-gov"
RECIPIENTS = 20
TRIALS = 100
# Every column of the extract is an integer: a spreadsheet turns them into
# floats, rounded here to the 0 decimals they were published with.
DECIMALS = {"age": 0, "education_num": 0, "fnlwgt": 0, "hours_per_week": 0}


@dataclass(frozen=True)
class Issued:
    registry: ReleaseRegistry
    releases: list[Release]
    copies: list[pd.DataFrame]

    def recipient(self, n: int) -> str:
        return f"recipient-{n:02d}"


@pytest.fixture(scope="module")
def extract() -> pd.DataFrame:
    return adult_extract(DEPARTMENT)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory, extract: pd.DataFrame) -> Issued:
    registry = ReleaseRegistry(tmp_path_factory.mktemp("state"), DEPARTMENT)
    releases = [
        make_release(
            extract,
            registry=registry,
            dataset="adult",
            recipient=f"recipient-{n:02d}",
            carriers=ADULT_CARRIERS,
        )
        for n in range(RECIPIENTS)
    ]
    copies = [pd.read_csv(io.BytesIO(r.data)) for r in releases]
    return Issued(registry, releases, copies)


def _trace_file(path: Path, registries: list[ReleaseRegistry]) -> TraceReport:
    leaked, digest = read_leaked(path)
    return trace_leak(leaked, registries, digest=digest)


def _named(report: TraceReport) -> set[str]:
    return {c.record.recipient for c in report.named}


COLUMNS = ["age", "sex", "marital_status", "education_num", "workclass",
           "relationship", "fnlwgt", "hours_per_week"]  # fmt: skip


@pytest.mark.parametrize("dropped", COLUMNS)
def test_a_reordered_tenth_with_a_column_dropped_and_rounded_names_its_recipient(
    issued: Issued, tmp_path: Path, dropped: str
) -> None:
    # Arrange: 10 % of recipient 7's rows, shuffled, a column gone, every
    # number rewritten as a float and rounded, saved as a spreadsheet would.
    rng = np.random.default_rng(7)
    sample = leak(issued.copies[7], 0.10, rng, drop=dropped, decimals=DECIMALS)
    path = tmp_path / "leaked.csv"
    sample.to_csv(path, index=False, float_format="%.2f")

    # Act
    report = _trace_file(path, [issued.registry])

    # Assert
    assert report.rows == round(0.10 * len(issued.copies[7]))
    assert _named(report) == {issued.recipient(7)}
    (culprit,) = report.named
    assert culprit.log10_adjusted <= math.log10(report.alpha)
    assert culprit.evidence.matches > 0.75 * culprit.evidence.positions
    assert report.candidates[0] == culprit
    assert report.exact == ()
    assert all(c.log10_adjusted > -3 for c in report.candidates[1:])


def test_false_attribution_rate_over_many_trials(issued: Issued) -> None:
    # Arrange
    rng = np.random.default_rng(2024)
    right = wrong = small_innocent_p = innocents = 0

    # Act
    for _ in range(TRIALS):
        source = int(rng.integers(RECIPIENTS))
        sample = leak(
            issued.copies[source],
            0.10,
            rng,
            drop=str(rng.choice(COLUMNS)),
            decimals=DECIMALS,
        )
        report = trace_leak(sample, [issued.registry])
        named = _named(report)
        right += issued.recipient(source) in named
        wrong += len(named - {issued.recipient(source)})
        for candidate in report.candidates:
            if candidate.record.recipient != issued.recipient(source):
                innocents += 1
                small_innocent_p += candidate.evidence.log10_p <= math.log10(0.05)

    # Assert: every leak traced, nobody else ever named, and innocent
    # releases' p-values no smaller than uniform ones (5 % below 0.05, with
    # three standard errors of slack over 1,900 of them).
    share = small_innocent_p / innocents
    print(
        f"\n{TRIALS} leaks of 10 %: right recipient named {right}/{TRIALS}, "
        f"innocent recipients named {wrong}/{TRIALS * (RECIPIENTS - 1)}, "
        f"innocent p <= 0.05: {share:.3f}"
    )
    assert right == TRIALS
    assert wrong == 0
    assert share <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / innocents)


def test_an_unmarked_copy_is_attributed_to_nobody(
    issued: Issued, extract: pd.DataFrame
) -> None:
    schema = get_dataset("adult").schema
    layout = issued.releases[0].record.layout
    unmarked = publish(extract, schema, layout)

    whole = trace_leak(unmarked, [issued.registry])
    part = trace_leak(
        leak(unmarked, 0.10, np.random.default_rng(1), drop="sex", decimals={}),
        [issued.registry],
    )

    assert whole.named == part.named == ()
    assert whole.candidates[0].evidence.positions > 5000


def test_another_departments_release_is_attributed_only_by_that_department(
    issued: Issued, tmp_path: Path
) -> None:
    # Arrange: the other department, its own key, the same recipient names.
    other = ReleaseRegistry(tmp_path, OTHER_DEPARTMENT)
    theirs = make_release(
        adult_extract(OTHER_DEPARTMENT),
        registry=other,
        dataset="adult",
        recipient=issued.recipient(7),
        carriers=ADULT_CARRIERS,
    )
    copy = pd.read_csv(io.BytesIO(theirs.data))
    sample = leak(copy, 0.5, np.random.default_rng(3), drop="sex", decimals={})

    # Act
    ours = trace_leak(sample, [issued.registry])
    both = trace_leak(sample, [issued.registry, other])

    # Assert
    assert ours.named == ()
    assert [c.record.release for c in both.named] == [theirs.record.release]
    assert len(both.candidates) == RECIPIENTS + 1


def test_a_byte_identical_copy_is_reported_as_such(
    issued: Issued, tmp_path: Path
) -> None:
    path = tmp_path / "copy.csv"
    path.write_bytes(issued.releases[3].data)

    report = _trace_file(path, [issued.registry])

    assert report.exact == (issued.releases[3].record.release,)
    assert _named(report) == {issued.recipient(3)}


def test_semicolons_extra_columns_and_foreign_rows_only_dilute(
    issued: Issued, extract: pd.DataFrame, tmp_path: Path
) -> None:
    # Arrange: 5 % of recipient 4's rows mixed with as many unmarked rows, a
    # column the release never had, written with semicolons.
    rng = np.random.default_rng(4)
    schema = get_dataset("adult").schema
    unmarked = publish(extract, schema, issued.releases[0].record.layout)
    mixed = pd.concat(
        [
            leak(issued.copies[4], 0.05, rng, drop="age", decimals={}),
            leak(unmarked, 0.05, rng, drop="age", decimals={}),
        ]
    ).assign(note="checked")
    path = tmp_path / "leaked.csv"
    mixed.sample(frac=1, random_state=4).to_csv(path, index=False, sep=";")

    # Act
    report = _trace_file(path, [issued.registry])

    # Assert
    assert report.columns[-1] == "note"
    assert _named(report) == {issued.recipient(4)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)), "not a readable CSV table"),
        (b"", "not a readable CSV table"),
        (b"age,sex\n", "holds no rows"),
    ],
)
def test_an_unreadable_leaked_file_is_named(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "leaked.csv"
    path.write_bytes(content)

    with pytest.raises(ConfigurationError, match=message):
        read_leaked(path)
    with pytest.raises(ConfigurationError, match="No such file"):
        read_leaked(tmp_path / "absent.csv")


def test_the_record_holds_what_tracing_needs_and_not_the_rows(
    issued: Issued, extract: pd.DataFrame
) -> None:
    release = issued.releases[0]
    record = release.record

    assert (record.department, record.dataset, record.recipient) == (
        DEPARTMENT,
        "adult",
        "recipient-00",
    )
    assert record.rows == len(extract)
    assert record.layout.columns == tuple(extract.columns)
    assert record.layout.carriers == ADULT_CARRIERS
    assert record.digest == hashlib.sha256(release.data).hexdigest()
    assert record.key_id == issued.registry.fingerprinter.key_id
    assert 0 < record.marks.changed < record.marks.selected < record.marks.cells
    assert record in issued.registry.records()
    sealed = (issued.registry.folder / f"{record.release}.release").read_bytes()
    assert b"recipient-00" not in sealed
    assert len(sealed) < 2000


# -- attacks ------------------------------------------------------------------


def _coarsen(frame: pd.DataFrame, columns: list[str], unit: int) -> pd.DataFrame:
    coarse = frame.copy()
    for name in columns:
        coarse[name] = (coarse[name] / unit).round() * unit
    return coarse


def test_rounding_one_carrier_coarser_leaves_the_other_to_trace(
    issued: Issued,
) -> None:
    # Half the rows: the evidence left in one carrier must not depend on the
    # registry's random keys (a tenth of the rows named recipient 5 only mostly).
    sample = leak(issued.copies[5], 0.5, np.random.default_rng(5), drop="sex",
                  decimals={})  # fmt: skip

    report = trace_leak(_coarsen(sample, ["fnlwgt"], 10), [issued.registry])

    assert _named(report) == {issued.recipient(5)}


def test_rounding_every_carrier_coarser_erases_the_marks_and_names_nobody(
    issued: Issued,
) -> None:
    # A documented limit: marks live in the last published digit.
    sample = leak(issued.copies[5], 0.5, np.random.default_rng(5), drop="sex",
                  decimals={})  # fmt: skip

    report = trace_leak(_coarsen(sample, list(ADULT_CARRIERS), 10), [issued.registry])

    assert report.named == ()


def test_rerandomising_the_last_digit_of_every_carrier_names_nobody(
    issued: Issued,
) -> None:
    # A documented limit: a recipient who knows the scheme (not the key) can
    # blur every carrier by a step, the same distortion the marks made.
    rng = np.random.default_rng(6)
    sample = leak(issued.copies[6], 0.5, rng, drop="sex", decimals={})
    for name in ADULT_CARRIERS:
        sample[name] = sample[name] + rng.integers(0, 2, len(sample))

    report = trace_leak(sample, [issued.registry])

    assert report.named == ()


def test_keeping_half_the_columns_still_traces_and_keeping_carriers_only_does_not(
    issued: Issued,
) -> None:
    # Only rows whose key used none of the four dropped columns keep their
    # positions (3 in 21 for fnlwgt): it takes a larger share of the rows.
    sample = leak(issued.copies[8], 0.5, np.random.default_rng(8), drop="sex",
                  decimals={})  # fmt: skip

    half = trace_leak(
        sample[["age", "education_num", *ADULT_CARRIERS]], [issued.registry]
    )
    bare = trace_leak(sample[list(ADULT_CARRIERS)], [issued.registry])

    assert _named(half) == {issued.recipient(8)}
    assert bare.named == ()


def test_colluders_mixing_rows_are_both_named(issued: Issued) -> None:
    rng = np.random.default_rng(9)
    mixed = pd.concat(
        [
            leak(issued.copies[1], 0.05, rng, drop="sex", decimals={}),
            leak(issued.copies[2], 0.05, rng, drop="sex", decimals={}),
        ]
    ).sample(frac=1, random_state=1)

    report = trace_leak(mixed, [issued.registry])

    assert _named(report) == {issued.recipient(1), issued.recipient(2)}


@pytest.mark.parametrize("how", ["pick", "average"])
def test_colluders_comparing_cells_are_both_named(issued: Issued, how: str) -> None:
    # Arrange: two recipients line up their copies (same rows, same order),
    # see which cells differ, and blur exactly those.
    rng = np.random.default_rng(10)
    first, second = issued.copies[11], issued.copies[12]
    merged = first.copy()
    for name in ADULT_CARRIERS:
        a, b = first[name].to_numpy(float), second[name].to_numpy(float)
        pick = np.where(rng.integers(0, 2, len(a)) == 1, a, b)
        merged[name] = pick if how == "pick" else (a + b) / 2
    sample = leak(merged, 0.10, rng, drop="sex", decimals={})

    # Act
    report = trace_leak(sample, [issued.registry])

    # Assert
    assert _named(report) == {issued.recipient(11), issued.recipient(12)}


def test_a_majority_vote_of_five_colluders_still_names_them_and_nobody_else(
    issued: Issued,
) -> None:
    sources = [13, 14, 15, 16, 17]
    copies = [issued.copies[s] for s in sources]
    voted = copies[0].copy()
    for name in ADULT_CARRIERS:
        cells = np.stack([c[name].to_numpy() for c in copies])
        # Per cell, the value most copies agree on (ties: the smallest).
        voted[name] = [
            np.bincount(col - col.min()).argmax() + col.min() for col in cells.T
        ]
    sample = leak(voted, 0.10, np.random.default_rng(11), drop="sex", decimals={})

    report = trace_leak(sample, [issued.registry])

    named = _named(report)
    assert named
    assert named <= {issued.recipient(s) for s in sources}


# -- records and keys ------------------------------------------------------------


def test_a_tampered_record_is_refused(issued: Issued, tmp_path: Path) -> None:
    registry = ReleaseRegistry(tmp_path, DEPARTMENT)
    make_release(
        issued.copies[0], registry=registry, dataset="adult", recipient="r",
        carriers=ADULT_CARRIERS,
    )  # fmt: skip
    (path,) = registry.record_paths()
    data = bytearray(path.read_bytes())
    data[-20] ^= 1
    path.write_bytes(bytes(data))

    with pytest.raises(IntegrityError, match="authentication failed"):
        ReleaseRegistry(tmp_path, DEPARTMENT).records()


def test_a_record_moved_or_renamed_is_refused(issued: Issued, tmp_path: Path) -> None:
    # Arrange: one record, copied under another name and to another department
    # that uses the same key file.
    registry = ReleaseRegistry(tmp_path, DEPARTMENT)
    made = make_release(
        issued.copies[0], registry=registry, dataset="adult", recipient="r",
        carriers=ADULT_CARRIERS,
    )  # fmt: skip
    (path,) = registry.record_paths()
    renamed = path.with_name("0123456789abcdef.release")
    renamed.write_bytes(path.read_bytes())
    key = f"file:{tmp_path / 'departments' / DEPARTMENT / 'watermark.key'}"
    other = ReleaseRegistry(tmp_path, OTHER_DEPARTMENT, key=key)
    other.folder.mkdir(parents=True)
    (other.folder / path.name).write_bytes(path.read_bytes())

    # Act / Assert
    with pytest.raises(
        ReleaseRecordError, match=f"holds release {made.record.release}"
    ):
        ReleaseRegistry(tmp_path, DEPARTMENT).records()
    with pytest.raises(IntegrityError, match="release-record:civil-affairs-local-gov"):
        other.records()


def test_plaintext_mode_cannot_fingerprint(
    tmp_path: Path, extract: pd.DataFrame
) -> None:
    registry = ReleaseRegistry(tmp_path, DEPARTMENT, key="plaintext")

    with (
        pytest.warns(InsecurePlaintextWarning),
        pytest.raises(KeyMaterialError, match="needs a secret key"),
    ):
        make_release(
            extract.head(50), registry=registry, dataset="adult", recipient="r",
            carriers=ADULT_CARRIERS,
        )  # fmt: skip
    assert registry.record_paths() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("race", "SENSITIVE column"),
        ("k", "k-anonymity"),
    ],
)
def test_a_refused_release_records_nothing(
    tmp_path: Path, extract: pd.DataFrame, change: str, message: str
) -> None:
    registry = ReleaseRegistry(tmp_path, DEPARTMENT)
    table, k = extract, 5
    if change == "race":
        table = extract.assign(race="White")
    else:
        k = 500

    with pytest.raises(ReleaseRefusedError, match=message):
        make_release(
            table, registry=registry, dataset="adult", recipient="r",
            carriers=ADULT_CARRIERS, k=k,
        )  # fmt: skip

    assert registry.record_paths() == []


def test_an_extract_breaking_the_schema_names_the_row(
    tmp_path: Path, extract: pd.DataFrame
) -> None:
    table = extract.head(20).copy()
    table.loc[table.index[4], "hours_per_week"] = 120

    with pytest.raises(DataValidationError, match="hours_per_week"):
        make_release(
            table, registry=ReleaseRegistry(tmp_path, DEPARTMENT), dataset="adult",
            recipient="r", carriers=ADULT_CARRIERS,
        )  # fmt: skip


def test_layout_is_checked_before_anything_is_read(tmp_path: Path) -> None:
    registry = ReleaseRegistry(tmp_path, DEPARTMENT)
    schema = get_dataset("adult").schema

    with pytest.raises(ConfigurationError, match="quasi-identifier never carries"):
        MarkLayout.plan(schema, ("age", "fnlwgt"), steps={}, carriers=("age",))
    with pytest.raises(ConfigurationError, match="recipient"):
        make_release(
            pd.DataFrame({"fnlwgt": [1]}), registry=registry, dataset="adult",
            recipient="a/b", carriers=("fnlwgt",),
        )  # fmt: skip
    assert not (tmp_path / "departments").exists()
