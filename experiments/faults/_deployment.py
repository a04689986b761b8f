"""A deployed job (``fedgov deploy``: a real SuperLink and one SuperNode per
department, as processes) in a county, while one of its processes is killed
with SIGKILL once the second round has begun.

- **SuperNode**: the department is lost; the job goes on with the others
  while ``min-departments`` hold, and the lost department is on record as
  such in the run record.
- **SuperLink**: the job cannot go on; ``fedgov deploy`` ends with an error
  that names the SuperLink, and stops every process it started.

Either way the departments' logs must still hold every record intact, every
spend in a budget book must be on record in its department's log, and
``fedgov audit verify`` must pass: an honest crash is no tampering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from experiments.faults._common import (
    FEDGOV,
    county_env,
    fedgov,
    init_county,
)
from experiments.faults._outcome import (
    FaultOutcome,
    book_spends,
    log_sizes,
    records_lost,
    spends_lost,
    unlogged_spends,
)
from fedgov.county import load_county

__all__ = ["superlink_kill", "supernode_kill"]

SUPERNODE_MUST_HOLD = (
    "the job completes its rounds with the two departments left (min-departments "
    "2), the lost department is on record as not trained, no record or spend is "
    "lost, and the audit passes"
)
SUPERLINK_MUST_HOLD = (
    "fedgov deploy ends with a non-zero exit and an error naming the SuperLink "
    "(no traceback, no hang) and leaves no process behind; no record or spend is "
    "lost, and the audit of what was recorded passes"
)


_SUPERNODE = (b"flower-supernode", b"department_nodes.supernode")
"""A SuperNode's program: Flower's, or fedgov's at a short poll interval."""
_FEDERATION = (b"flower-", b"department_nodes.")
"""Any process of a local federation."""


def _flower_pids(home: Path, programs: tuple[bytes, ...]) -> dict[str, int]:
    """Each process of one of ``programs`` (``python -m`` modules included)
    whose FLWR_HOME lies under ``home``: by that folder's name (a SuperNode's
    names its department)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(p in a for a in argv[:3] for p in programs):
            continue
        flwr_home = next((e for e in environ if e.startswith(b"FLWR_HOME=")), b"")
        path = Path(flwr_home.decode().removeprefix("FLWR_HOME="))
        if path.is_relative_to(home):
            found[path.name] = int(entry.name)
    return found


def _deploy_and_kill(
    work: Path, job: str, programs: tuple[bytes, ...], extra: list[str]
) -> tuple[subprocess.CompletedProcess[str], str, Path, Path]:
    """Run ``fedgov deploy`` in a new county; kill one of ``programs`` once round 2
    began. Returns the deploy's result, whom it killed, the home, the run folder."""
    home, county = init_county(work)
    run_dir = county.paths.runs_dir / job
    command = [
        str(FEDGOV), "deploy", "--partition", "dirichlet", "--departments", "3",
        "--rounds", "3", "--model", "logreg", "--job-id", job, *extra,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=work, env=county_env(home), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = run_dir / "logs" / "flwr-run.log"
    deadline = time.monotonic() + 900
    try:
        while "[ROUND 2" not in (log.read_text() if log.exists() else ""):
            if process.poll() is not None or time.monotonic() > deadline:
                out, err = process.communicate(timeout=60)
                raise RuntimeError(f"round 2 never began: {out[-2000:]}{err[-2000:]}")
            time.sleep(1)
        pids = _flower_pids(run_dir, programs)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        out, err = process.communicate(timeout=1200)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        if process.returncode is None:
            process.kill()
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    return done, victim, home, run_dir


def _audit(home: Path, work: Path) -> tuple[bool, list[str]]:
    anchored = fedgov(["ledger", "anchor"], home, work)
    verified = fedgov(["audit", "verify", "--json"], home, work)
    notes = (
        []
        if anchored.returncode == 0
        else [f"ledger anchor: {anchored.stderr[-1500:]}"]
    )
    try:
        report = json.loads(verified.stdout[verified.stdout.index("{") :])
    except ValueError:
        return False, [*notes, f"audit verify: {verified.stderr[-1500:]}"]
    failures = [f"audit: {f['check']}: {f['message']}" for f in report["failures"]]
    return bool(report["ok"]) and verified.returncode == 0, notes + failures


def _losses(home: Path) -> tuple[int, int]:
    state = load_county(home / "county.toml").paths.state_dir
    sizes = log_sizes(state)
    spends = book_spends(state)
    return records_lost(sizes), spends_lost(state, spends) + unlogged_spends(state)


def supernode_kill(work: Path) -> FaultOutcome:
    """A department's SuperNode killed mid-job; two of three go on."""
    done, victim, home, run_dir = _deploy_and_kill(
        work,
        "dropout",
        _SUPERNODE,
        ["--set", "round-timeout=180", "--set", "min-departments=2"],
    )
    try:
        notes = []
        if done.returncode == 0:
            record = json.loads((run_dir / "run_record.json").read_text())
            last = record["rounds"][-1]["train"]
            trained = [d["department"] for d in last if d["status"] == "trained"]
            if len(record["rounds"]) != 3 or victim in trained or len(trained) != 2:
                notes.append(
                    f"rounds {len(record['rounds'])}, last trained by {trained} "
                    f"(killed: {victim})"
                )
        lost_records, lost_spends = _losses(home)
        verdict, findings = _audit(home, work)
    finally:
        fedgov(["ledger", "node", "stop"], home, work)
    return FaultOutcome(
        case="SuperNode kill -9 mid-round",
        must_hold=SUPERNODE_MUST_HOLD,
        faults=1,
        completed=int(done.returncode == 0),
        failed_unclearly=int(done.returncode != 0),
        records_lost=lost_records,
        spends_lost=lost_spends,
        verdict=verdict,
        verdict_expected=True,
        notes=tuple(notes + findings)
        + (() if done.returncode == 0 else (done.stderr[-2000:],)),
    )


def superlink_kill(work: Path) -> FaultOutcome:
    """The SuperLink killed mid-job: the job ends with a clear error."""
    done, _, home, run_dir = _deploy_and_kill(
        work, "superlink-lost", (b"flower-superlink",), []
    )
    try:
        said = next((ln for ln in done.stderr.splitlines() if " error: " in ln), "")
        clear = (
            done.returncode not in (0, None)
            and "superlink" in said.lower()
            and "Traceback" not in done.stderr
        )
        left = _flower_pids(run_dir, _FEDERATION)
        lost_records, lost_spends = _losses(home)
        verdict, findings = _audit(home, work)
    finally:
        fedgov(["ledger", "node", "stop"], home, work)
    notes = [f"left running: {sorted(left)}"] if left else []
    if done.returncode == 0:
        notes.append("fedgov deploy succeeded although its SuperLink was killed")
    return FaultOutcome(
        case="SuperLink kill -9 mid-round",
        must_hold=SUPERLINK_MUST_HOLD,
        faults=1,
        completed=int(done.returncode == 0),
        failed_clearly=int(clear),
        failed_unclearly=int(done.returncode != 0 and not clear),
        records_lost=lost_records,
        spends_lost=lost_spends,
        verdict=verdict,
        verdict_expected=True,
        errors=(said,) if clear else (),
        notes=tuple(notes + findings)
        + (() if clear or done.returncode == 0 else (done.stderr[-2000:],)),
    )
