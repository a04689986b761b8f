"""The county portal: the register page at county scale, a ballot's browser cryptography.

Run ``python -m experiments.bench.portal`` (``make anvil portal-assets
chromium`` first; ``--help`` for sizes). Two parts:

1. **Register page** (target: under 500 ms server time). A county of
   ``--jobs`` jobs (one in five a DP query, the rest training jobs with as
   many rounds as bring the logs to ``--records`` records) over six
   departments is written through the
   product's own writers: the coordinator's record builders
   (:func:`ledger.audit.coordinator.roster_record`, ``round_records``) and
   :class:`ledger.records.AuditRecord` for the departments' records, as the
   audit mod writes them, appended to each actor's :class:`LogStore`, each
   log's head signed and anchored on anvil by the relay. The portal then
   serves ``/register``: the first request indexes every record (reported
   apart), later ones render from memory; the server's own time is the
   ``Server-Timing`` header, next to the wall time the client saw.
2. **A ballot's cryptography in headless Chromium** (target: under 1 s).
   ``--ballots`` residents vote on the real page, in a consultation with ring
   credentials (rings of ``--ring-size`` recorded keys: as many other
   residents record theirs from Python first) and, side by side, in one with
   blind RSA credentials. The page's script makes the voting key and the
   ballot key and signs the request, then commits, ring-signs and signs the
   ballot; or makes the voting key, blinds and signs the request, unblinds
   and verifies the credential, commits and signs the ballot. It times each
   step with ``performance.now()`` (``window.fedgovTimings``); their sum is
   one ballot's cryptography, network and chain excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from eth_account import Account
from playwright.sync_api import sync_playwright
from starlette.testclient import TestClient

from coordinator.audit import roster_record, round_records
from coordinator.guard import DepartmentOutcome, RoundReport
from fedgov.engines.audit import AuditEnvironment, prepare_job
from fedgov.job import TrainJob
from fedgov.portal.app import create_app
from fedgov.portal.settings import KeyFile, PortalSettings, RegistrarDesk
from fedgov.types import ActorId, DatasetId, JobId
from ledger.chain import AnvilProcess, Chain
from ledger.chain_roles import Roles
from ledger.keys import PlaintextKeyWarning, load_key
from ledger.layout import coordinator_dir, department_dir, log_path
from ledger.records import Action, AuditRecord, Role
from ledger.relay import AnchorPolicy
from ledger.store import LogStore
from ledger.voting import resident
from ledger.voting._clock import advance_to, latest_timestamp
from ledger.voting.consultation import ConsultationContract
from ledger.voting.registrar import (
    Registrar,
    generate_credential_key,
    save_credential_key,
)
from ledger.voting.resident import RollKey
from ledger.voting.roll import Roll
from tests.audit_fixtures import ledger_on

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DEPARTMENTS = tuple(f"dept-{i}" for i in range(1, 7))
REGISTER_TARGET_MS = 500.0
BALLOT_TARGET_MS = 1000.0
_POLICY = AnchorPolicy(interval_s=3600.0, every_records=10**9, poll_s=0.05)
_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_PASSWORD_ENV = "FEDGOV_BENCH_PASSWORD"
_PASSPHRASE_ENV = "FEDGOV_BENCH_PASSPHRASE"


def _department_record(
    actor: str,
    department: str,
    action: Action,
    job: str,
    when: int,
    **fields: Any,
) -> AuditRecord:
    details = {"department": department, **fields.pop("details", {})}
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.DEPARTMENT,
        action=action,
        timestamp_ms=when,
        dataset=DatasetId("randhie"),
        purpose="county statistics, approval #12",
        job=JobId(job),
        details=details,
        **fields,
    )


def _training_round(
    actor: str, department: str, job: str, number: int, when: int
) -> list[AuditRecord]:
    """A department's records of one DP round (the audit mod's five)."""
    spend = {
        "phase": "train",
        "noise-multiplier": "1.1",
        "sample-rate": "0.02",
        "steps": "50",
        "epsilon-job": repr(0.3 * number),
        "epsilon-total": repr(0.3 * number),
        "epsilon-limit": "8.0",
    }
    digest = os.urandom(32)
    return [
        _department_record(
            actor,
            department,
            Action.BUDGET_SPEND,
            job,
            when,
            round=number,
            epsilon=0.3,
            delta=1e-5,
            details=spend,
        ),
        _department_record(
            actor,
            department,
            Action.DATA_READ,
            job,
            when,
            round=number,
            record_count=2500,
            details={"phase": "train", "split": "train"},
        ),
        _department_record(
            actor,
            department,
            Action.TRAIN_ROUND,
            job,
            when,
            round=number,
            record_count=2500,
            result_hash=digest,
            epsilon=0.3,
            delta=1e-5,
            details={"phase": "train", "dp": "on"},
        ),
        _department_record(
            actor,
            department,
            Action.DATA_READ,
            job,
            when,
            round=number,
            record_count=600,
            details={"phase": "evaluate", "split": "held-out"},
        ),
        _department_record(
            actor,
            department,
            Action.EVALUATE,
            job,
            when,
            round=number,
            record_count=600,
            details={"phase": "evaluate"},
        ),
    ]


def _query(actor: str, department: str, job: str, when: int) -> list[AuditRecord]:
    """A department's records of one DP query (spend, read, answer)."""
    query = {"phase": "query"}
    return [
        _department_record(
            actor,
            department,
            Action.BUDGET_SPEND,
            job,
            when,
            epsilon=0.5,
            delta=1e-5,
            details={
                **query,
                "epsilon-job": "0.5",
                "epsilon-total": "1.0",
                "epsilon-limit": "8.0",
                "noise-multiplier": "3.1",
                "sample-rate": "1.0",
                "steps": "1",
            },
        ),
        _department_record(
            actor,
            department,
            Action.DATA_READ,
            job,
            when,
            details={
                **query,
                "split": "all",
                "rows": "withheld",
                "columns": '["mdvis"]',
            },
        ),
        _department_record(
            actor,
            department,
            Action.ANALYTICS_QUERY,
            job,
            when,
            epsilon=0.5,
            delta=1e-5,
            result_hash=os.urandom(32),
            details={
                **query,
                "kind": "histogram",
                "column": "mdvis",
                "group-by": "",
                "query-sha256": os.urandom(32).hex(),
                "answer-length": "6",
            },
        ),
    ]


def _coordinator_query(actor: str, job: str, when: int) -> list[AuditRecord]:
    def record(**details: str) -> AuditRecord:
        return AuditRecord(
            actor=ActorId(actor),
            role=Role.COORDINATOR,
            action=Action.ANALYTICS_QUERY,
            timestamp_ms=when,
            dataset=DatasetId("randhie"),
            purpose="county statistics, approval #12",
            job=JobId(job),
            details=details,
        )

    return [
        *(
            record(
                entry="department",
                department=d,
                status="ok",
                **{"epsilon-query": "0.5"},
            )
            for d in DEPARTMENTS
        ),
        record(
            entry="query",
            kind="histogram",
            column="mdvis",
            **{"group-by": "", "ok": json.dumps(list(DEPARTMENTS))},
        ),
    ]


_PER_ROUND = 5 * len(DEPARTMENTS) + len(DEPARTMENTS) + 1
_PER_QUERY = 3 * len(DEPARTMENTS) + len(DEPARTMENTS) + 1


def _rounds(jobs: int, records: int) -> list[int]:
    """Rounds of each training job so that the logs hold about ``records``."""
    training = jobs - jobs // 5
    left = records - (jobs // 5) * _PER_QUERY - 2 * training
    total = max(training, -(-left // _PER_ROUND))
    return [total // training + (i < total % training) for i in range(training)]


def _model_export(actor: str, job: str, rounds: int, when: int) -> AuditRecord:
    return AuditRecord(
        actor=ActorId(actor),
        role=Role.COORDINATOR,
        action=Action.MODEL_EXPORT,
        timestamp_ms=when,
        dataset=DatasetId("randhie"),
        purpose="county statistics, approval #12",
        job=JobId(job),
        round=rounds,
        result_hash=os.urandom(32),
        details={"checkpoint": "final_model.pt", "engine": "inprocess"},
    )


def build_county(
    root: Path, chain: Chain, *, jobs: int, records: int
) -> tuple[AuditEnvironment, int]:
    """The county's logs, written, signed and anchored; the number of records."""
    env = AuditEnvironment(ledger_on(chain), root / "state")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlaintextKeyWarning)
        # Keys and roles as an engine gives them before a run.
        prepare_job(
            TrainJob(job_id="setup", dataset="randhie"),
            env.ledger,
            state_dir=env.state_dir,
            departments=DEPARTMENTS,
        )
    coordinator = _key(coordinator_dir(env.state_dir))
    departments = env.departments()
    logs: dict[str | None, list[AuditRecord]] = {None: []}
    for department in DEPARTMENTS:
        logs[department] = []
    when = 1_764_000_000_000
    plan = iter(_rounds(jobs, records))
    for number in range(jobs):
        job_id = f"job-{number:04d}"
        when += 60_000
        if number % 5 == 4:
            for department, address in departments.items():
                logs[department] += _query(address, department, job_id, when)
            logs[None] += _coordinator_query(str(coordinator.address), job_id, when)
            continue
        rounds = next(plan)
        job = TrainJob(
            job_id=job_id,
            dataset="randhie",
            num_rounds=rounds,
            purpose="county statistics, approval #12",
        )
        logs[None].append(
            roster_record(
                job,
                actor=str(coordinator.address),
                departments=departments,
                timestamp_ms=when,
            )
        )
        for server_round in range(1, rounds + 1):
            report = RoundReport(server_round=server_round, started=0.0)
            for index, (department, address) in enumerate(departments.items()):
                logs[department] += _training_round(
                    address, department, job_id, server_round, when
                )
                report.train.append(
                    DepartmentOutcome(
                        department,
                        index + 1,
                        "trained",
                        metrics={
                            "num-examples": 2500.0,
                            "epsilon-total": 0.3 * server_round,
                        },
                        update_hash=os.urandom(32).hex(),
                    )
                )
            report.aggregate_hash = os.urandom(32).hex()
            logs[None] += round_records(
                report, job=job, actor=str(coordinator.address), timestamp_ms=when
            )
        logs[None].append(_model_export(str(coordinator.address), job_id, rounds, when))
    total = 0
    for owner, written in logs.items():
        folder = (
            coordinator_dir(env.state_dir)
            if owner is None
            else department_dir(env.state_dir, owner)
        )
        account = coordinator if owner is None else _key(folder)
        with LogStore(
            log_path(folder, account.address), actor=account.address
        ) as store:
            for start in range(0, len(written), 10_000):
                store.append_many(written[start : start + 10_000])
            store.sign_head(account, env.ledger.registry.domain)
        total += len(written)
    env.ledger.relay(env.log_paths(), policy=_POLICY).flush(timeout_s=120)
    return env, total


def _key(folder: Path) -> LocalAccount:
    return load_key(folder / "audit-key.json", password=None)


def bench_register(settings: PortalSettings, *, repeats: int) -> dict[str, Any]:
    """Time the index of every record, then ``/register`` rendered warm."""
    app = create_app(settings)
    county = app.state.portal.county
    with TestClient(app) as client:  # runs the app's start-up, as uvicorn does
        started = time.perf_counter()
        while county.version == 0:  # the start-up indexes the logs
            time.sleep(0.01)
        indexed = time.perf_counter() - started
        first = client.get("/register")
        assert first.status_code == 200, first.text[:500]
        server, wall = [], []
        for _ in range(repeats):
            # The portal looks at the files at most once a second: each
            # sample pays that look (one query per log) and renders every
            # entry from memory.
            time.sleep(1.05)
            started = time.perf_counter()
            answer = client.get("/register")
            wall.append((time.perf_counter() - started) * 1000)
            server.append(float(answer.headers["server-timing"].split("dur=")[1]))
    return {
        "entries": first.text.count("<tr>") - 1,
        "bytes": len(first.content),
        "index_s": indexed,
        "server_ms": server,
        "wall_ms": wall,
    }


def _serve(settings: PortalSettings) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=0, log_level="warning"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    (socket,) = server.servers[0].sockets
    return server, f"http://127.0.0.1:{socket.getsockname()[1]}"


def bench_ballots(
    anvil: AnvilProcess, root: Path, *, ballots: int, ring_size: int
) -> list[float]:
    """Each ballot's in-page cryptography (ms), cast on the real page.

    ``ring_size`` 0: blind RSA credentials; else ring credentials, with
    ``ring_size`` more residents' keys recorded from Python so that every
    ring is full.
    """
    os.environ.setdefault(_PASSWORD_ENV, "bench")
    os.environ.setdefault(_PASSPHRASE_ENV, "bench")
    chain = Chain.connect(anvil.url, accounts=anvil.accounts)
    admin, registrar_account, relayer = anvil.accounts[5:8]
    roles = Roles.deploy(chain, admin=admin)
    roles.grant(registrar_account.address, Role.REGISTRAR, sender=admin)
    contract = ConsultationContract.deploy(chain, roles, sender=admin)
    keys = {f"resident-{i}": RollKey.generate() for i in range(ballots)}
    others = {f"other-{i}": RollKey.generate() for i in range(ring_size)}
    roll = Roll.build((name, key.address) for name, key in {**keys, **others}.items())
    roll.save(root / "roll.json")
    credential_key = generate_credential_key()
    save_credential_key(
        credential_key, root / "key.pem", passphrase=os.environ[_PASSPHRASE_ENV]
    )
    for name, account in (("registrar", registrar_account), ("relayer", relayer)):
        (root / f"{name}.keystore").write_text(
            json.dumps(Account.encrypt(account.key, os.environ[_PASSWORD_ENV]))
        )
    now = latest_timestamp(chain)
    registrar = Registrar(
        contract,
        account=registrar_account,
        roll=roll,
        key=None if ring_size else credential_key,
    )
    info = registrar.open(
        question="Benchmark?",
        options=["yes", "no"],
        ring_size=ring_size,
        commit_start=now + 3_600,
        commit_end=now + 7_200,
        reveal_end=now + 10_800,
    )
    for name, key in others.items():
        registrar.record(info, name, resident.request_ballot_key(info, key)[1])
    recorded = "ballot key is recorded" if ring_size else "Credential verified"
    for name, key in keys.items():
        key.save(root / f"{name}.key")
    settings = PortalSettings(
        rpc_url=anvil.url,
        consultation=contract.address,
        data_dir=root / "data",
        relayer=KeyFile(root / "relayer.keystore", _PASSWORD_ENV),
        registrar_desk=RegistrarDesk(
            roll=root / "roll.json",
            credential_key=root / "key.pem",
            account=KeyFile(root / "registrar.keystore", _PASSWORD_ENV),
            passphrase_env=_PASSPHRASE_ENV,
        ),
    )
    server, url = _serve(settings)
    vote = f"{url}/consultations/{info.consultation_id}/vote"
    timings: list[dict[str, float]] = []
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(root / "profile"),
                executable_path="/usr/bin/chromium",
                args=_CHROMIUM_FLAGS,
            )
            pages = []
            for name in keys:
                page = context.new_page()
                page.goto(vote)
                page.wait_for_selector("#phase-line:has-text('Phase: issuance')")
                page.set_input_files("#roll-key-file", str(root / f"{name}.key"))
                page.wait_for_selector("#roll-key-line:has-text('loaded')")
                page.click("#request")
                page.wait_for_selector(
                    f"#credential-line:has-text('{recorded}')", timeout=60_000
                )
                pages.append(page)
            advance_to(chain, info.commit_start)
            for page in pages:
                page.click("#refresh")
                page.wait_for_selector("#phase-line:has-text('Phase: commit')")
                page.check("#choice-0")
                page.click("#cast")
                page.wait_for_selector(
                    "#ballot-line:has-text('Ballot recorded')", timeout=60_000
                )
                timings.append(page.evaluate("window.fedgovTimings"))
            context.close()
    finally:
        server.should_exit = True
    return [sum(t.values()) for t in timings]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.bench.portal")
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--records", type=int, default=100_000, help="audit records")
    parser.add_argument("--repeats", type=int, default=10, help="warm renders timed")
    parser.add_argument("--ballots", type=int, default=5)
    parser.add_argument(
        "--ring-size", type=int, default=16, help="keys per ring (ring credentials)"
    )
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="fedgov-bench-portal-") as folder,
        AnvilProcess() as anvil,
    ):
        root = Path(folder)
        chain = Chain.connect(anvil.url, accounts=anvil.accounts)
        started = time.perf_counter()
        env, records = build_county(root, chain, jobs=args.jobs, records=args.records)
        built = time.perf_counter() - started
        settings = PortalSettings(
            rpc_url=anvil.url,
            state_dirs=(env.state_dir,),
            registry=env.ledger.registry.address,
            data_dir=root / "data",
        )
        print(
            f"county: {args.jobs} jobs, {records:,} audit records in 7 logs, anchored ({built:.1f} s to write)"
        )
        register = bench_register(settings, repeats=args.repeats)
        server = statistics.median(register["server_ms"])
        print(
            f"register page: {register['entries']} entries, {register['bytes'] / 1024:.0f} KiB; "
            f"indexing every record at start-up {register['index_s']:.1f} s; "
            f"then median {server:.0f} ms server (max {max(register['server_ms']):.0f}), "
            f"{statistics.median(register['wall_ms']):.0f} ms wall"
        )
        print(
            "  each warm render, server ms: "
            + ", ".join(f"{ms:.0f}" for ms in register["server_ms"])
        )
        print(
            f"  target {REGISTER_TARGET_MS:.0f} ms server: {server / REGISTER_TARGET_MS:.2f} of it "
            f"({'met' if server < REGISTER_TARGET_MS else 'NOT met'})"
        )
        kinds = {f"ring of {args.ring_size}": args.ring_size, "blind RSA": 0}
        medians = {}
        for kind, ring_size in kinds.items():
            ballots_dir = root / f"ballots-{ring_size}"
            ballots_dir.mkdir()
            ballots = bench_ballots(
                anvil, ballots_dir, ballots=args.ballots, ring_size=ring_size
            )
            medians[kind] = statistics.median(ballots)
            steps = (
                "voting and ballot keys, request signature; commitment, ring "
                "signature, ballot signature"
                if ring_size
                else "key, blinding, request signature; unblinding and verifying; "
                "commitment and signature"
            )
            print(
                f"ballot cryptography in headless Chromium, {kind} ({len(ballots)} "
                f"ballots): median {medians[kind]:.0f} ms, max {max(ballots):.0f} ms "
                f"({steps})"
            )
            print(
                f"  target {BALLOT_TARGET_MS:.0f} ms: {max(ballots) / BALLOT_TARGET_MS:.2f} of it at the max "
                f"({'met' if max(ballots) < BALLOT_TARGET_MS else 'NOT met'})"
            )
        ring, rsa = medians.values()
        print(f"  ring / blind RSA, median: {ring / rsa:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
