// The voting page: a resident's whole ballot, made in this browser.
//
// Secrets (the roll key, the voting key, the ballot key or the blind's
// inverse, the salt) live in this page's memory and in the files the resident
// saves; the portal gets the signed request (for the registrar's desk: the
// ballot key's public half, or a blinded value), the ballot as the chain will
// show it (for the relayer) and, in the reveal window, the reveal. Whether the
// consultation takes ring-signed ballots or blind RSA credentials is its own
// (`ring_size` fixed on chain at creation).

import {
  acceptCredential,
  ballotKeyOf,
  bytesOf,
  castBallot,
  entryCommitment,
  newRollKey,
  plainHex,
  receiptOf,
  registeredKeys,
  requestBallotKey,
  requestCredential,
  revealOf,
  RESPONSE_FORMAT,
  rollKeyOf,
  sameScope,
  scopeOf,
  walletOf,
} from '../lib/ballot.js';
import { $, api, offerDownload, readJsonFile, say } from '../lib/page.js';

const app = $('vote-app');
const id = app.dataset.consultation;
const desk = app.dataset.desk === 'yes';
const relay = app.dataset.relay === 'yes';
const ringCredentials = Number(app.dataset.ring) > 0;
const state = { info: null, rollKey: null, wallet: null, recorded: null };
const timings = {};
window.fedgovTimings = timings;

function when(seconds) {
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

async function timed(step, work) {
  const started = performance.now();
  const result = await work();
  timings[step] = performance.now() - started;
  const list = $('timings');
  list.replaceChildren(
    ...Object.entries(timings).map(([name, ms]) => {
      const item = document.createElement('li');
      item.textContent = `${name}: ${ms.toFixed(1)} ms`;
      return item;
    }),
  );
  return result;
}

function saveWallet() {
  offerDownload($('wallet-download'), state.wallet, `voting-wallet-${id}.json`);
  const w = state.wallet;
  const stage = w.revealed
    ? 'ballot revealed'
    : w.commitment
      ? 'ballot cast, to reveal'
      : w.credential
        ? 'credential verified, ready to vote'
        : ringCredentials
          ? 'ballot key made, its recording requested'
          : 'credential requested';
  say($('wallet-line'), `Voting key ${w.voting_address}: ${stage}. Save the wallet file now.`, 'good');
}

function update() {
  const info = state.info;
  if (!info) return;
  const phase = info.phase;
  const w = state.wallet;
  const ready = ringCredentials ? Boolean(w?.ballot_secret) : Boolean(w?.credential);
  $('request').disabled = !(phase === 'issuance' && state.rollKey && !ready);
  $('cast').disabled = !(phase === 'commit' && ready && !w.commitment && relay);
  $('reveal').disabled = !(phase === 'reveal' && w?.commitment && !w.revealed && relay);
  for (const [step, done] of [
    ['step-key', Boolean(state.rollKey) || ready],
    ['step-wallet', Boolean(w)],
    ['step-credential', ringCredentials ? state.recorded !== null : Boolean(w?.credential)],
    ['step-ballot', Boolean(w?.commitment)],
    ['step-reveal', Boolean(w?.revealed)],
  ]) {
    $(step).classList.toggle('done', done);
  }
}

async function load() {
  const info = await api(`/api/consultations/${id}`);
  state.info = info;
  const windows = {
    issuance: `${ringCredentials ? 'ballot keys recorded' : 'credentials'} until ${when(info.commit_start)}`,
    commit: `ballots until ${when(info.commit_end)}`,
    reveal: `reveals until ${when(info.reveal_end)}`,
    closed: 'the reveal window is over',
    finalized: 'the result is final',
  };
  say($('phase-line'), `Phase: ${info.phase} (${windows[info.phase]}); chain time ${when(info.block_time)}.`);
  if (!relay) {
    say(
      $('ballot-line'),
      'This portal relays no ballots: save your wallet and cast it with `fedgov vote commit` and any relayer.',
    );
  }
  const choices = $('choices');
  if (choices.querySelectorAll('input').length === 0) {
    info.options.forEach((option, index) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'choice';
      input.value = String(index);
      input.id = `choice-${index}`;
      label.append(input, ` ${option}`);
      choices.append(label);
    });
  }
  update();
}

function guard(line, work) {
  return async (event) => {
    try {
      await work(event);
    } catch (error) {
      say(line, error.message, 'bad');
    }
    update();
  };
}

function scope() {
  return scopeOf(state.info.scope);
}

$('refresh').addEventListener('click', guard($('phase-line'), load));

$('new-roll-key').addEventListener(
  'click',
  guard($('roll-key-line'), async () => {
    const keyFile = newRollKey();
    state.rollKey = rollKeyOf(keyFile);
    const anchor = document.createElement('a');
    anchor.className = 'button secondary';
    anchor.id = 'roll-key-download';
    anchor.textContent = 'Save my roll key';
    offerDownload(anchor, keyFile, 'roll-key.json');
    const line = $('roll-key-line');
    say(line, `New roll key ${state.rollKey.address}: save it, and give this address to the registrar with proof of who you are. `, 'good');
    line.append(anchor);
  }),
);

$('roll-key-file').addEventListener(
  'change',
  guard($('roll-key-line'), async (event) => {
    const keyFile = await readJsonFile(event.target);
    if (!keyFile) return;
    state.rollKey = rollKeyOf(keyFile);
    say($('roll-key-line'), `Roll key ${state.rollKey.address} loaded.`, 'good');
  }),
);

$('wallet-file').addEventListener(
  'change',
  guard($('wallet-line'), async (event) => {
    const walletFile = await readJsonFile(event.target);
    if (!walletFile) return;
    const wallet = walletOf(walletFile);
    if (!sameScope(scopeOf(wallet), scope())) {
      throw new Error('this wallet is for another consultation');
    }
    state.wallet = wallet;
    saveWallet();
  }),
);

/** The chain holds this wallet's ballot key against `entry`: its issuance number. */
async function checkRecorded(entry) {
  const events = await api(`/api/consultations/${id}/events`);
  const own = plainHex(ballotKeyOf(state.wallet));
  const found = events.issued.find((e) => e.ballot_key === own);
  if (!found) throw new Error('your ballot key is not recorded on chain');
  if (found.roll_entry !== entry) throw new Error('your ballot key is recorded against another roll entry');
  state.recorded = found.issued - 1;
}

async function accept(response) {
  if (response?.format !== RESPONSE_FORMAT) throw new Error(`not a ${RESPONSE_FORMAT} file`);
  if (!sameScope(scopeOf(response), scope())) throw new Error('the answer is for another consultation');
  const entry = plainHex(bytesOf(response.roll_entry, 'roll_entry', 32));
  const resident = $('resident-id').value.trim();
  if (resident) {
    const own = plainHex(await entryCommitment(resident, bytesOf(response.roll_salt, 'roll_salt', 32)));
    if (own !== entry) throw new Error('the recorded roll entry is not yours');
  }
  if (ringCredentials) {
    await checkRecorded(entry);
    say(
      $('credential-line'),
      `Your ballot key is recorded on chain against your roll entry (key number ${state.recorded}, block ${response.block_number}).`,
      'good',
    );
    return;
  }
  const recorded = await api(`/api/consultations/${id}/entries/${entry}`);
  if (!recorded.issued) throw new Error('no credential is recorded on chain for your roll entry');
  state.wallet = await timed('unblind and verify the credential', () =>
    acceptCredential(state.wallet, state.info.modulus, response.blind_signature),
  );
  saveWallet();
  say(
    $('credential-line'),
    `Credential verified for your voting key; its issuance is recorded in block ${response.block_number}.`,
    'good',
  );
}

$('request').addEventListener(
  'click',
  guard($('credential-line'), async () => {
    const { wallet, request } = ringCredentials
      ? await timed('voting and ballot keys, roll key signature', () => requestBallotKey(scope(), state.rollKey))
      : await timed('voting key, blinding, roll key signature', () =>
          requestCredential(scope(), state.info.modulus, state.rollKey),
        );
    state.wallet = wallet;
    saveWallet();
    if (!desk) {
      offerDownload(
        $('request-download'),
        request,
        `${ringCredentials ? 'ballot-key' : 'credential'}-request-${id}.json`,
      );
      $('manual-exchange').classList.remove('hidden');
      say($('credential-line'), 'Request ready: hand it to the registrar.');
      return;
    }
    say($('credential-line'), ringCredentials ? 'Asking the registrar to record your ballot key…' : 'Asking the registrar…');
    await accept(await api(`/api/consultations/${id}/credentials`, request));
  }),
);

$('response-file').addEventListener(
  'change',
  guard($('credential-line'), async (event) => {
    const responseFile = await readJsonFile(event.target);
    if (responseFile) await accept(responseFile);
  }),
);

$('cast').addEventListener(
  'click',
  guard($('ballot-line'), async () => {
    const picked = document.querySelector('input[name="choice"]:checked');
    if (!picked) throw new Error('choose an option first');
    const choice = Number(picked.value);
    let ring = {};
    if (ringCredentials) {
      const events = await api(`/api/consultations/${id}/events`);
      ring = { keys: registeredKeys(events.issued), ringSize: state.info.ring_size };
    }
    const { wallet, ballot } = await timed(
      ringCredentials ? 'commitment, ring signature, ballot signature' : 'commitment and ballot signature',
      () => castBallot(state.wallet, choice, ring),
    );
    say($('ballot-line'), 'Sending your ballot…');
    const mined = await api(`/api/consultations/${id}/ballots`, ballot);
    state.wallet = wallet;
    saveWallet();
    const receipt = receiptOf(wallet, mined, { withChoice: $('with-choice').checked });
    offerDownload($('receipt-download'), receipt, `ballot-receipt-${id}.json`);
    $('receipt-text').textContent = JSON.stringify(receipt, null, 1);
    $('receipt-text').classList.remove('hidden');
    say(
      $('ballot-line'),
      `Ballot recorded in block ${mined.block_number}. Save your receipt, and your wallet: you need it to reveal.`,
      'good',
    );
  }),
);

$('reveal').addEventListener(
  'click',
  guard($('reveal-line'), async () => {
    const mined = await api(`/api/consultations/${id}/reveals`, revealOf(state.wallet));
    state.wallet = { ...state.wallet, revealed: true };
    saveWallet();
    say(
      $('reveal-line'),
      `Ballot revealed in block ${mined.block_number}: it is counted. You may delete your wallet now; nothing else proves how you voted.`,
      'good',
    );
  }),
);

if (!globalThis.crypto?.subtle) {
  say(
    $('phase-line'),
    'This browser offers no Web Cryptography here (the page must be served over HTTPS): voting is not possible.',
    'bad',
  );
} else {
  guard($('phase-line'), load)();
}
