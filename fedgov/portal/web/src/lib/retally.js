// The public re-tally, recomputed in the browser from a consultation's events:
// the same checks, in the same order and with the same words, as
// ledger/voting/tally.py (`fedgov vote tally --verify`). Every credential is
// re-verified with WebCrypto's RSA-PSS, every signed request and every reveal
// with viem's keccak and secp256k1; the portal only relays the events.

import { keccak256 } from 'viem';
import {
  bytesOf,
  commitment,
  importCredentialKey,
  requestSigner,
  scopeOf,
  verifyCredential,
} from './ballot.js';

function compare(problems, what, ours, theirs) {
  if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
    problems.push(`${what}: ${JSON.stringify(ours)} from events, ${JSON.stringify(theirs)} in the contract`);
  }
}

/** Recompute a consultation's result from the events the portal served. */
export async function retally(events) {
  const scope = scopeOf(events.scope);
  const publicKey = await importCredentialKey(events.modulus);
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
    let signer = null;
    try {
      signer = await requestSigner(scope, `0x${e.blinded_message_hash}`, `0x${e.request_signature}`);
    } catch {
      signer = null;
    }
    if (signer !== e.requester) {
      problems.push(`${where} (block ${e.block}): its request is not signed by the roll key ${e.requester}`);
    }
    if (requesters.has(e.requester)) {
      problems.push(`${where}: roll key ${e.requester} holds a second credential`);
    }
    if (requests.has(e.blinded_message_hash)) {
      problems.push(`${where}: the same request was recorded twice`);
    }
    requesters.add(e.requester);
    requests.add(e.blinded_message_hash);
  }

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
  if (commitments.size > entries.length) {
    problems.push(
      `over-issuance: ${commitments.size} valid ballots for ${entries.length} recorded credentials; ` +
        `the registrar's key signed at least ${commitments.size - entries.length} credential(s) off the record`,
    );
  }

  const tally = events.options.map(() => 0);
  const revealed = new Set();
  for (const e of events.revealed) {
    const where = `reveal of ${e.voting_key} (block ${e.block})`;
    const choice = BigInt(e.choice);
    if (!commitments.has(e.voting_key)) {
      problems.push(`${where}: no valid ballot to reveal`);
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
