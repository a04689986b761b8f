"""The real pages in headless Chromium, served by ``fedgov portal serve`` over HTTPS.

A resident votes in the browser end to end on a local chain (anvil), with
ring credentials: the page records her ballot key and signs her ballot as one
of a ring of recorded keys, next to a ballot the command line made; she checks
the receipt (a tampered one is rejected), the page's recount agrees with
``fedgov vote tally --verify``, and refuses a ring signature tampered on its
way to the page; the register shows the county's job and query
and the browser checks their inclusion proofs; a tampered log fails its proof
and the audit an auditor re-runs from the page; the budgets chart and a job
followed live while it trains. Every page is screenshotted into
``tests/portal/screenshots/`` and no page logs a console error (a
Content-Security-Policy violation would).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from coordinator.guard import RoundReport
from fedgov.engines.inprocess import InProcessEngine
from fedgov.job import TrainJob
from ledger.keys import PlaintextKeyWarning
from ledger.voting import resident, ring
from ledger.voting._clock import advance_to
from ledger.voting.registrar import Registrar
from ledger.voting.resident import RollKey
from ledger.voting.roll import Roll
from ledger.voting.tally import retally
from tests.audit_fixtures import ledger_on
from tests.portal._browser import (
    PortalProcess,
    chromium,
    screenshot,
    tls_pair,
    watch_console,
)
from tests.portal._county import (
    JOB_ID,
    PASSWORD_ENV,
    QUERY_ID,
    copy_state,
    roll_keys,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

    from tests.portal._county import County

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

FEDGOV = str(Path(sys.executable).with_name("fedgov"))


def _serve(
    county: County,
    root: Path,
    *,
    state: Path | None = None,
    registry: str | None = None,
    desk_roll: Path | None = None,
) -> PortalProcess:
    """``fedgov portal serve`` for the county, as its operator types it."""
    cert, key = tls_pair(root)
    args = [
        "--rpc-url",
        county.rpc_url,
        "--state-dir",
        str(state or county.state_dir),
        "--runs-dir",
        str(county.runs_dir),
        "--registry",
        county.registry,
        "--consultation",
        county.consultation.address,
        "--data-dir",
        str(root / "portal-data"),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--auditor-tokens",
        str(county.auditor_tokens),
        "--relayer-key-file",
        str(county.relayer_keystore),
        "--relayer-password-env",
        PASSWORD_ENV,
    ]
    if desk_roll is not None:
        # A desk for ring consultations: no credential key, nothing to sign with.
        args += [
            "--registrar-roll",
            str(desk_roll),
            "--registrar-key-file",
            str(county.registrar_keystore),
            "--registrar-password-env",
            PASSWORD_ENV,
        ]
    return PortalProcess(args, log=root / "portal.log")


def _fedgov(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FEDGOV, *argv], capture_output=True, text=True, timeout=120, check=False
    )


def _download(page: Page, selector: str, target: Path) -> Path:
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(target)
    return target


def _check_receipt(page: Page, url: str, text: str) -> str:
    page.goto(f"{url}/receipts")
    page.fill("#receipt", text)
    page.click("#receipt-form button[type=submit]")
    page.wait_for_selector("#receipt-result, #error-message")
    return page.inner_text("main")


def test_a_resident_votes_in_the_browser_and_everyone_can_check(
    county: County, tmp_path: Path
) -> None:
    # Prepare: alice enrolled with `fedgov vote enroll` before the roll was
    # drawn up; bob and carol vote with the command line's library.
    keys = roll_keys()
    keys["alice"].save(tmp_path / "alice.key")
    number, roll_path = county.open_consultation(
        {name: key.address for name, key in keys.items()},
        folder=tmp_path,
        ring_size=2,
    )
    info = county.consultation.info(number)
    registrar = Registrar(
        county.consultation,
        account=county.registrar_account,
        roll=Roll.load(roll_path),
    )
    bob, request = resident.request_ballot_key(info, keys["bob"])
    registrar.record(info, "bob", request)

    with (
        _serve(county, tmp_path, desk_roll=roll_path) as portal,
        chromium(tmp_path / "profile") as browser,
    ):
        page = browser.new_page()
        errors = watch_console(page)
        vote = f"{portal.url}/consultations/{number}/vote"

        # Execute: a new roll key is a `fedgov vote enroll` file...
        page.goto(vote)
        page.wait_for_selector("#phase-line:has-text('Phase: issuance')")
        page.click("#new-roll-key")
        made = RollKey.load(_download(page, "#roll-key-download", tmp_path / "new.key"))
        assert made.address in page.inner_text("#roll-key-line")
        # ... and alice has her ballot key recorded with her enrolled key.
        page.set_input_files("#roll-key-file", str(tmp_path / "alice.key"))
        page.wait_for_selector(f"#roll-key-line:has-text('{keys['alice'].address}')")
        page.fill("#resident-id", "alice")
        page.click("#request")
        page.wait_for_selector("#credential-line:has-text('ballot key is recorded')")
        wallet = resident.Wallet.load(
            _download(page, "#wallet-download", tmp_path / "a.wallet")
        )
        screenshot(page, "vote-credential")

        advance_to(county.chain, info.commit_start)
        page.click("#refresh")
        page.wait_for_selector("#phase-line:has-text('Phase: commit')")
        page.check("#choice-1")
        page.check("#with-choice")
        page.click("#cast")
        page.wait_for_selector("#ballot-line:has-text('Ballot recorded')")
        receipt_path = _download(page, "#receipt-download", tmp_path / "alice.receipt")
        cast_wallet = _download(page, "#wallet-download", tmp_path / "cast.wallet")
        screenshot(page, "vote")
        timings = page.evaluate("window.fedgovTimings")
        bob, _ = resident.cast_ballot(
            county.consultation, bob, info, 0, relayer=county.relayer
        )

        receipt = receipt_path.read_text()
        recorded = _check_receipt(page, portal.url, receipt)
        screenshot(page, "receipt")
        document = json.loads(receipt)
        forged = _check_receipt(page, portal.url, json.dumps({**document, "choice": 0}))
        screenshot(page, "receipt-tampered")
        garbage = _check_receipt(page, portal.url, receipt[: len(receipt) // 2])
        cli_check = _fedgov(
            "vote", "check", str(receipt_path), "--rpc-url", county.rpc_url
        )

        # alice comes back in the reveal window with the wallet she saved.
        advance_to(county.chain, info.commit_end)
        page.close()
        page = browser.new_page()
        errors += watch_console(page)
        page.goto(vote)
        page.wait_for_selector("#phase-line:has-text('Phase: reveal')")
        page.set_input_files("#wallet-file", str(cast_wallet))
        page.wait_for_selector("#wallet-line:has-text('ballot cast, to reveal')")
        page.click("#reveal")
        page.wait_for_selector("#reveal-line:has-text('revealed in block')")
        screenshot(page, "vote-revealed")
        resident.reveal_ballot(county.consultation, bob, relayer=county.relayer)
        advance_to(county.chain, info.reveal_end)
        county.consultation.finalize(number, sender=county.relayer)

        counted = _check_receipt(page, portal.url, receipt)
        page.goto(f"{portal.url}/consultations/{number}")
        page.click("#retally-run")
        page.wait_for_selector("#retally-verdict:has-text('matches the contract')")
        recount = json.loads(page.get_attribute("#retally", "data-result") or "{}")
        screenshot(page, "consultation")
        # The same page, fed bob's ballot with one response altered.
        page.route(f"**/api/consultations/{number}/events", _tamper_first_response)
        page.reload()
        page.click("#retally-run")
        page.wait_for_selector("#retally-verdict:has-text('does NOT match')")
        tampered = json.loads(page.get_attribute("#retally", "data-result") or "{}")
        cli_tally = _fedgov(
            "vote",
            "tally",
            "--rpc-url",
            county.rpc_url,
            "--contract",
            county.consultation.address,
            "--id",
            str(number),
            "--verify",
        )

    # Assert: the browser's ballot is the command line's in every way.
    events = county.consultation.events(number)
    own = ring.BallotKeyPair(wallet.ballot_secret or b"").public
    assert [bytes(e.args["ballotKey"]) for e in events.issued][1] == own
    assert wallet.scope == info.scope
    assert wallet.credential is None  # the recorded key is the credential
    assert all(len(e.args["ring"]) == 2 for e in events.committed)
    assert "recorded as cast\nyes" in recorded
    assert "not revealed yet" not in recorded.lower()
    assert "This receipt does not check out" in forged
    assert "the receipt's choice and salt do not hash to its commitment" in forged
    assert "malformed receipt" in garbage or "not JSON" in garbage
    assert cli_check.returncode == 0, cli_check.stdout + cli_check.stderr
    assert "recorded as cast: yes" in cli_check.stdout
    assert "counted as chosen\nyes" in counted
    assert cli_tally.returncode == 0, cli_tally.stdout + cli_tally.stderr
    assert "tally (events):   {'yes': 1, 'no': 1, 'later': 0}" in cli_tally.stdout
    assert recount == {"tally": [1, 1, 0], "problems": []}
    assert retally(county.consultation, number).tally == (1, 1, 0)
    bob_event = events.committed[1]
    assert tampered["problems"][0] == (
        f"ballot of {bob_event.args['votingKey']} (block {bob_event.block_number}): "
        "not counted: its ring signature does not verify"
    )
    assert set(timings) == {
        "voting and ballot keys, roll key signature",
        "commitment, ring signature, ballot signature",
    }
    # The two receipts refused on purpose answer 422 and 400; nothing else failed.
    assert [e for e in errors if "Failed to load resource" not in e] == []
    assert len(errors) == 2


def _tamper_first_response(route: Route) -> None:
    """Serve the events with the second ballot's first ring response altered."""
    events = route.fetch().json()
    response = bytearray.fromhex(events["committed"][1]["responses"][0])
    response[-1] ^= 1
    events["committed"][1]["responses"][0] = response.hex()
    route.fulfill(json=events)


def _proof_counts(page: Page) -> dict[str, int]:
    page.wait_for_selector("body[data-proofs]", state="attached")
    counts: dict[str, int] = json.loads(page.get_attribute("body", "data-proofs") or "")
    return counts


def _run_audit(page: Page, url: str, token: str) -> str:
    page.goto(f"{url}/signin")
    page.fill("#token", token)
    page.click("main form button[type=submit]")
    page.wait_for_selector("#audit-run")
    page.click("#audit-run button[type=submit]")
    page.wait_for_selector("#audit-verdict", timeout=120_000)
    return page.inner_text("#latest-audit")


def test_the_register_proves_each_use_and_the_audit_catches_a_tampered_log(
    county: County, tmp_path: Path
) -> None:
    # Prepare: the honest county, and a copy whose health-site-3 edited a
    # budget spend after it was anchored.
    state = copy_state(county, tmp_path / "tampered")
    log = next((state / "departments" / "health-site-3").glob("audit-0x*.db"))
    with sqlite3.connect(log) as db:
        db.execute("DROP TRIGGER records_no_update")
        # The first spend: a department's log opens with the grant of its budget.
        idx, data = next(
            (idx, data)
            for idx, data in db.execute("SELECT idx, data FROM records ORDER BY idx")
            if b'"budget_spend"' in data
        )
        db.execute(
            "UPDATE records SET data = ? WHERE idx = ?",
            (re.sub(rb'"epsilon":"[0-9.]+"', b'"epsilon":"0.01"', data, count=1), idx),
        )
    (tmp_path / "honest").mkdir()
    (tmp_path / "bad").mkdir()

    with (
        _serve(county, tmp_path / "honest") as honest,
        _serve(county, tmp_path / "bad", state=state) as tampered,
        chromium(tmp_path / "profile") as browser,
    ):
        page = browser.new_page()
        errors = watch_console(page)

        # Execute
        page.goto(f"{honest.url}/")
        screenshot(page, "home")
        page.goto(f"{honest.url}/register")
        register = page.inner_text("#register")
        screenshot(page, "register")
        page.click(f"a[href='/register/entry?kind=training&id={JOB_ID}']")
        job_proofs = _proof_counts(page)
        screenshot(page, "register-entry")
        page.goto(f"{honest.url}/register/entry?kind=query&id={QUERY_ID}")
        query_proofs = _proof_counts(page)
        passed = _run_audit(page, honest.url, county.auditor_token)
        screenshot(page, "audit")

        page.goto(f"{tampered.url}/register/entry?kind=training&id={JOB_ID}")
        bad_proofs = _proof_counts(page)
        screenshot(page, "register-tampered")
        failed = _run_audit(page, tampered.url, county.auditor_token)
        screenshot(page, "audit-failed")

    # Assert
    assert JOB_ID in register
    assert QUERY_ID in register
    assert "health-site-6" in register
    assert job_proofs == {"good": 1 + 6 * county.job.num_rounds, "bad": 0, "pending": 0}
    assert query_proofs == {"good": 1 + 6, "bad": 0, "pending": 0}
    assert "PASSED" in passed
    assert bad_proofs["bad"] == 1
    assert bad_proofs["pending"] == 0
    assert "FAILED" in failed
    assert "integrity departments/health-site-3/audit-0x" in failed
    assert errors == []


def test_budgets_chart_and_a_job_followed_live(county: County, tmp_path: Path) -> None:
    # Prepare: a second job of the county's departments, started once the
    # page is open.
    state = copy_state(county, tmp_path / "state")
    job = TrainJob(
        job_id="live-job",
        dataset="randhie",
        model="logreg",
        hidden="",
        num_rounds=3,
        epsilon=0.5,
        run_dir=str(county.runs_dir / "live-job"),
        state_dir=str(state),
        purpose="live demonstration",
    )
    # Contracts of its own: anchoring the copy's logs in the county's
    # registry would make the county's files look truncated.
    ledger = ledger_on(
        county.chain, admin=county.chain.accounts[9], relayer=county.chain.accounts[8]
    )

    # The job holds after rounds 1 and 2 (its progress file written) until
    # the page has shown them.
    reached = {1: threading.Event(), 2: threading.Event()}
    release = {1: threading.Event(), 2: threading.Event()}

    def hold(report: RoundReport) -> None:
        if report.server_round in reached:
            reached[report.server_round].set()
            release[report.server_round].wait(timeout=300)

    def train() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PlaintextKeyWarning)
            InProcessEngine(ledger=ledger).run(job, on_round=hold)

    worker = threading.Thread(target=train)
    try:
        with (
            _serve(
                county, tmp_path, state=state, registry=ledger.registry.address
            ) as portal,
            chromium(tmp_path / "profile") as browser,
        ):
            page = browser.new_page()
            errors = watch_console(page)

            # Execute
            page.goto(f"{portal.url}/budgets")
            page.wait_for_selector("body[data-charts='6']", state="attached")
            screenshot(page, "budgets")
            worker.start()
            assert reached[1].wait(timeout=300)
            page.goto(f"{portal.url}/jobs/entry?id=live-job")
            page.wait_for_selector("#live-line.live")
            before = page.get_attribute("body", "data-rounds")
            release[1].set()
            # The next round, shown while the job still runs.
            assert reached[2].wait(timeout=300)
            page.wait_for_selector(
                "body[data-rounds='2']", state="attached", timeout=120_000
            )
            live_accuracy = page.inner_text(
                "#job-round-rows tr:first-child td:nth-child(5)"
            )
            screenshot(page, "job-live")
            release[2].set()
            page.wait_for_selector("#job-status:has-text('finished')", timeout=120_000)
            rounds = page.inner_text("#job-round-rows")
            screenshot(page, "job")
            page.goto(f"{portal.url}/jobs")
            screenshot(page, "jobs")
    finally:
        for event in release.values():
            event.set()
        if worker.is_alive():
            worker.join(timeout=300)

    # Assert
    assert before == "1"
    assert 0.0 < float(live_accuracy) < 1.0  # from progress.json, while it ran
    assert len(rounds.strip().splitlines()) == 3
    assert errors == []
