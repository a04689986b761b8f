// The public re-tally, recomputed in the browser from a consultation's events:
// the same checks, in the same order and with the same words, as
// ledger/voting/tally.py (`fedgov vote tally --verify`). Every ring signature
// is re-verified with @noble/curves (./ring.js), every blind RSA credential
// with WebCrypto's RSA-PSS, every signed request and every reveal with viem's
// keccak and secp256k1; the portal only relays the events.

import { keccak256 } from 'viem';
import {
  bytesOf,
  commitment,
  importCredentialKey,
  keyRequestSigner,
  registeredKeys,
  requestSigner,
  ringBallotProblem,
  scopeOf,
  verifyCredential,
} from './ballot.js';
import { isPoint } from './ring.js';

function compare(problems, what, ours, theirs) {
  if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
    problems.push(`${what}: ${JSON.stringify(ours)} from events, ${JSON.stringify(theirs)} in the contract`);
  }
}

/** The counted ring ballots' commitments by voting key: valid, first per key image. */
function ringBallots(problems, scope, events) {
  let keys;
  try {
    keys = registeredKeys(events.issued);
  } catch (error) {
    problems.push(error.message);
    return new Map();
  }
  const hexKeys = events.issued.map((e) => e.ballot_key);
  if (new Set(hexKeys).size !== hexKeys.length) {
    problems.push('a ballot key was recorded for two roll entries');
  }
  keys.forEach((key, number) => {
    if (!isPoint(key)) {
      problems.push(
        `ballot key ${number} (roll entry 0x${events.issued[number].roll_entry}) is not a ` +
          'point of secp256k1: no ring holding it verifies',
      );
    }
  });
  const size = Math.min(events.ring_size, keys.length);
  const commitments = new Map();
  const images = new Map();
  for (const e of events.committed) {
    const where = `ballot of ${e.voting_key} (block ${e.block})`;
    if (commitments.has(e.voting_key)) {
      problems.push(`${where}: a second ballot for the same voting key`);
      continue;
    }
    let reason = ringBallotProblem(scope, keys, e);
    if (reason === null && e.ring.length !== size) reason = `its ring holds ${e.ring.length} keys, not ${size}`;
    if (reason !== null) {
      problems.push(`${where}: not counted: ${reason}`);
      continue;
    }
    if (images.has(e.key_image)) {
      problems.push(
        `${where}: not counted: a second ballot by one ballot key (its key image is the ballot of ${images.get(e.key_image)}'s)`,
      );
      continue;
    }
    images.set(e.key_image, e.voting_key);
    commitments.set(e.voting_key, e.commitment);
  }
  return commitments;
}

/** The counted blind RSA ballots' commitments by voting key: credential valid, key fresh. */
async function rsaBallots(problems, scope, events, issued) {
  const publicKey = await importCredentialKey(events.modulus);
  const commitments = new Map();
  for (const e of events.committed) {
    const where = `ballot of ${e.voting_key} (block ${e.block})`;
    if (commitments.has(e.voting_key)) {
      problems.push(`${where}: a second ballot for the same voting key`);
      continue;
    }
    const valid = await verifyCredential(
      publicKey,
      scope,
      e.voting_key,
      bytesOf(e.message_prefix, 'message_prefix', 32),
      bytesOf(e.credential, 'credential'),
    );
    if (!valid) {
      problems.push(`${where}: its credential does not verify`);
      continue;
    }
    commitments.set(e.voting_key, e.commitment);
  }
  if (commitments.size > issued) {
    problems.push(
      `over-issuance: ${commitments.size} valid ballots for ${issued} recorded credentials; ` +
        `the registrar's key signed at least ${commitments.size - issued} credential(s) off the record`,
    );
  }
  return commitments;
}

/** Recompute a consultation's result from the events the portal served. */
export async function retally(events) {
  const scope = scopeOf(events.scope);
  const ringCredentials = events.ring_size > 0;
  const problems = [];

  const entries = events.issued.map((e) => e.roll_entry);
  if (new Set(entries).size !== entries.length) {
    problems.push('a roll entry was issued more than one credential');
  }
  if (entries.length > events.roll_size) {
    problems.push(`${entries.length} credentials for a roll of ${events.roll_size}`);
  }
  const requesters = new Set();
  const requests = new Set();
  for (const e of events.issued) {
    const where = `credential of roll entry 0x${e.roll_entry}`;
    const requested = ringCredentials
      ? keccak256(bytesOf(e.ballot_key, 'ballot_key')).slice(2)
      : e.blinded_message_hash;
    let signer = null;
    try {
      signer = await (ringCredentials ? keyRequestSigner : requestSigner)(
        scope,
        `0x${requested}`,
        `0x${e.request_signature}`,
      );
    } catch {
      signer = null;
    }
    if (signer !== e.requester) {
      problems.push(`${where} (block ${e.block}): its request is not signed by the roll key ${e.requester}`);
    }
    if (requesters.has(e.requester)) {
      problems.push(`${where}: roll key ${e.requester} holds a second credential`);
    }
    if (requests.has(requested)) {
      problems.push(`${where}: the same request was recorded twice`);
    }
    requesters.add(e.requester);
    requests.add(requested);
  }

  const commitments = ringCredentials
    ? ringBallots(problems, scope, events)
    : await rsaBallots(problems, scope, events, entries.length);

  const tally = events.options.map(() => 0);
  const revealed = new Set();
  for (const e of events.revealed) {
    const where = `reveal of ${e.voting_key} (block ${e.block})`;
    const choice = BigInt(e.choice);
    if (!commitments.has(e.voting_key)) {
      problems.push(`${where}: its ballot is not counted`);
    } else if (revealed.has(e.voting_key)) {
      problems.push(`${where}: revealed twice`);
    } else if (
      commitment(scope, e.voting_key, choice, bytesOf(e.salt, 'salt', 32)).slice(2) !==
      commitments.get(e.voting_key)
    ) {
      problems.push(`${where}: choice and salt do not match the commitment`);
    } else if (choice >= BigInt(events.options.length)) {
      problems.push(`${where}: option ${choice} does not exist`);
    } else {
      revealed.add(e.voting_key);
      tally[Number(choice)] += 1;
    }
  }

  compare(problems, 'tally', tally, events.contract.tally);
  if (events.finalized_tally !== null) {
    compare(problems, 'finalized tally', tally, events.finalized_tally);
  }
  compare(problems, 'issued count', entries.length, events.contract.issued);
  compare(problems, 'committed count', commitments.size, events.contract.committed);
  compare(problems, 'revealed count', revealed.size, events.contract.revealed);
  if (keccak256(bytesOf(events.modulus, 'modulus')).slice(2) !== events.modulus_hash) {
    problems.push("the creation event's key is not the key the contract holds");
  }
  return {
    tally,
    issued: entries.length,
    committed: commitments.size,
    revealed: revealed.size,
    unrevealed: [...commitments.keys()].filter((key) => !revealed.has(key)),
    problems,
  };
}
