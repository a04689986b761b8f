"""The county's chain node dies or goes away while heads are being anchored.

Both cases run on a county ``fedgov init`` installs in the work folder
(anvil behind the journalling node front, on a free port):

- **chain outage**: a department commits records and the coordinator's
  relay (a background thread) anchors them; the node is stopped, the
  department goes on committing, the relay fails and backs off; the node
  comes back and the relay anchors what waited, by itself;
- **chain node kill -9**: ``fedgov train`` (in process, six rounds, the
  county's relay anchoring as it goes) while the node is killed with
  SIGKILL; ``fedgov ledger node start`` brings it back, ``fedgov ledger
  anchor`` anchors what it never confirmed.

Then the auditor (``verify_audit``, or ``fedgov audit verify`` as a user
types it) must find every record anchored and the audit clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from eth_account import Account

from auditor.verify import verify_audit
from experiments.faults._common import (
    FEDGOV,
    county_env,
    fedgov,
    free_port,
    init_county,
    read_record,
)
from experiments.faults._outcome import (
    FaultOutcome,
    book_spends,
    log_sizes,
    records_lost,
    spends_lost,
    unlogged_spends,
)
from fedgov.commands.init import create_county
from fedgov.county import CountyConfig
from fedgov.errors import FedgovError
from ledger.actor_log import ActorLog
from ledger.anchor_registry import AnchoredHead, AnchorRegistry
from ledger.chain import Chain
from ledger.county_ledger import CountyLedger
from ledger.layout import LOG_NAME, find_logs
from ledger.log_files import stored_size
from ledger.node import start_node, stop_node
from ledger.records import Role
from ledger.relay import AnchorPolicy
from ledger.tree_head import log_id_for

__all__ = ["chain_node_kill", "chain_outage"]

OUTAGE_MUST_HOLD = (
    "while the chain node is down the department keeps committing and the relay "
    "retries with backoff, raising nothing; once the node is back the relay "
    "anchors every record by itself, anchors made before the outage are still on "
    "chain, and the audit passes"
)
KILL_MUST_HOLD = (
    "the job completes although its chain node was killed with SIGKILL mid-"
    "anchoring; every anchor the relay reported before the kill is on the "
    "restarted chain in its block; 'fedgov ledger anchor' anchors the rest; no "
    "record or spend is lost and 'fedgov audit verify' passes"
)
_RELAYED = re.compile(
    r"relayed (0x[0-9a-fA-F]{40})'s head at size (\d+) \(block (\d+)\)"
)


@contextlib.contextmanager
def _county(home: Path) -> Iterator[CountyConfig]:
    """A county installed in ``home``, its chain node stopped at the end."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = create_county(home, county="lakeview", port=free_port()).config
    assert config.chain.node_dir is not None
    try:
        yield config
    finally:
        stop_node(config.chain.node_dir)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout_s} s")
        time.sleep(0.2)


def chain_outage(work: Path) -> FaultOutcome:
    """The chain node stopped, then started again, under a relay at work."""
    with _county(work / "home") as county:
        node = county.chain.node_dir
        assert node is not None
        ledger = CountyLedger.from_county(county)
        account = Account.create()
        ledger.ensure_role(account.address, Role.DEPARTMENT)
        log = ActorLog(
            county.paths.state_dir / "departments" / "dept-0", account, ledger.domain
        )
        relay = ledger.relay(
            [log.path],
            policy=AnchorPolicy(
                every_records=1, poll_s=0.1, initial_backoff_s=0.2, max_backoff_s=1.0
            ),
        )
        notes: list[str] = []
        errors: list[str] = []
        before: list[AnchoredHead] = []
        committed_in_outage = 0
        relay.start()
        try:
            for index in range(3):
                log.commit([read_record(account.address, "chain-outage", index)])
            _wait(
                lambda: relay.status()[0].anchored_size == 3,
                "the first records were not anchored",
            )
            before = ledger.registry.history(log_id_for(account.address, LOG_NAME))
            stop_node(node)
            for index in range(3, 6):
                log.commit([read_record(account.address, "chain-outage", index)])
                committed_in_outage += 1
            _wait(
                lambda: relay.status()[0].failures >= 2,
                "the relay never tried the stopped chain",
            )
            errors.append(relay.status()[0].last_error or "")
            start_node(node)
            _wait(
                lambda: relay.status()[0].anchored_size == 6,
                "the relay did not anchor what waited once the chain was back",
            )
            completed = 1
        except (FedgovError, TimeoutError) as e:
            notes.append(f"{type(e).__name__}: {e}")
            completed = 0
        finally:
            relay.stop(flush=False)
        after = ledger.registry.history(log_id_for(account.address, LOG_NAME))
        kept = {(h.tree_size, h.block_number) for h in after}
        lost_anchors = [h for h in before if (h.tree_size, h.block_number) not in kept]
        if lost_anchors:
            notes.append(f"{len(lost_anchors)} anchor(s) from before the outage gone")
        report = verify_audit(
            find_logs(county.paths.state_dir),
            chain=ledger.chain,
            registry=county.contracts.anchor_registry,
        )
    return FaultOutcome(
        case="chain outage during anchoring",
        must_hold=OUTAGE_MUST_HOLD,
        faults=1,
        completed=completed,
        failed_unclearly=1 - completed,
        records_lost=max(0, 6 - stored_size(log.path)),
        verdict=report.ok,
        verdict_expected=True,
        errors=tuple(errors),
        notes=tuple(notes)
        + tuple(f"audit: {f}" for f in report.failures)
        + (() if committed_in_outage == 3 else ("commits failed in the outage",)),
    )


def chain_node_kill(work: Path) -> FaultOutcome:
    """``fedgov train`` anchoring while its chain node is killed with SIGKILL."""
    home, county = init_county(work)
    node = county.chain.node_dir
    assert node is not None
    train = subprocess.Popen(
        [str(FEDGOV), "train", "engine=inprocess", "partition=dirichlet",
         "partition.num_departments=3", "num_rounds=6", "model=logreg",
         "job_id=killed"],
        cwd=work, env=county_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    relayed: list[tuple[str, int, int]] = []
    assert train.stderr is not None
    try:
        # Kill the node (its anvil dies with it) once anchors flow.
        for line in train.stderr:
            found = _RELAYED.search(line)
            if found:
                relayed.append((found[1], int(found[2]), int(found[3])))
            if len(relayed) >= 3:
                break
        pid = int((node / "node.pid").read_text().split()[0])
        before_kill = list(relayed)
        os.kill(pid, signal.SIGKILL)
        _, rest = train.communicate(timeout=1800)
        relayed += [
            (m[1], int(m[2]), int(m[3]))
            for m in (_RELAYED.search(line) for line in rest.splitlines())
            if m
        ]
        time.sleep(1)
        restarted = fedgov(["ledger", "node", "start"], home, work)
        anchored = fedgov(["ledger", "anchor"], home, work)
        sizes = log_sizes(county.paths.state_dir)
        spends = book_spends(county.paths.state_dir)
        verified = fedgov(["audit", "verify", "--json"], home, work)
        chain = Chain.connect(county.chain.rpc_url, accounts=[])
        registry = AnchorRegistry.at(chain, county.contracts.anchor_registry)
        on_chain = {
            (head.signer, head.tree_size, head.block_number)
            for path in find_logs(county.paths.state_dir)
            for head in registry.history(registry.log_id_for(path.stem[6:], "audit"))
        }
    finally:
        train.kill()
        fedgov(["ledger", "node", "stop"], home, work)
    notes = []
    for name, done in (("ledger node start", restarted), ("ledger anchor", anchored)):
        if done.returncode != 0:
            notes.append(f"fedgov {name} failed: {done.stderr[-2000:]}")
    if len(before_kill) < 3:
        notes.append("the job ended before anchors flowed: no kill mid-anchoring")
    missing = set(before_kill) - on_chain
    if missing:
        notes.append(f"{len(missing)} anchor(s) confirmed before the kill are gone")
    report = json.loads(verified.stdout[verified.stdout.index("{") :])
    unanchored = [
        log["label"] for log in report["logs"] if log["anchored_size"] != log["records"]
    ]
    if unanchored:
        notes.append(f"not anchored to the end: {unanchored}")
    completed = int(train.returncode == 0 and report["rounds"] >= 1)
    return FaultOutcome(
        case="chain node kill -9 during anchoring",
        must_hold=KILL_MUST_HOLD,
        faults=1,
        completed=completed,
        failed_unclearly=1 - completed,
        records_lost=records_lost(sizes),
        spends_lost=spends_lost(county.paths.state_dir, spends)
        + unlogged_spends(county.paths.state_dir),
        verdict=bool(report["ok"]) and verified.returncode == 0,
        verdict_expected=True,
        notes=tuple(notes),
    )
