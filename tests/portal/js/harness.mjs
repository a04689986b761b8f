// Runs the portal's browser cryptography under node for the Python tests:
// reads a JSON list of operations on stdin, prints their results as JSON.
// Usage: node harness.mjs PORTAL_WEB_SRC_LIB < ops.json

import { argv, stdin, stdout } from 'node:process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const lib = argv[2];
const load = (name) => import(pathToFileURL(path.join(lib, name)).href);
const ballot = await load('ballot.js');
const merkle = await load('merkle.js');
const ring = await load('ring.js');
const { retally } = await load('retally.js');
const { fromHex, toHex } = await load('hex.js');

const OPERATIONS = {
  credential_message: ({ scope, voting_key }) =>
    toHex(ballot.credentialMessage(ballot.scopeOf(scope), voting_key)),
  commitment: ({ scope, voting_key, choice, salt }) =>
    ballot.commitment(ballot.scopeOf(scope), voting_key, BigInt(choice), fromHex(salt)).slice(2),
  sign_request: async ({ scope, roll_key, blinded_message }) =>
    (await ballot.signRequest(ballot.scopeOf(scope), `0x${roll_key}`, fromHex(blinded_message))).slice(2),
  request_signer: ({ scope, blinded_message_hash, signature }) =>
    ballot.requestSigner(ballot.scopeOf(scope), `0x${blinded_message_hash}`, `0x${signature}`),
  sign_ballot: async ({ scope, voting_key, commitment }) =>
    (await ballot.signBallot(ballot.scopeOf(scope), `0x${voting_key}`, `0x${commitment}`)).slice(2),
  entry_commitment: async ({ resident, salt }) =>
    toHex(await ballot.entryCommitment(resident, fromHex(salt))),
  roll_key: ({ document }) => ballot.rollKeyOf(document).address,
  new_roll_key: () => ballot.newRollKey(),
  request_credential: ({ scope, modulus, roll_key }) =>
    ballot.requestCredential(ballot.scopeOf(scope), modulus, ballot.rollKeyOf(roll_key)),
  accept_credential: ({ wallet, modulus, blind_signature }) =>
    ballot.acceptCredential(ballot.walletOf(wallet), modulus, blind_signature),
  cast_ballot: ({ wallet, choice, keys, ring_size }) =>
    ballot.castBallot(ballot.walletOf(wallet), choice, {
      keys: keys ? keys.map(fromHex) : null,
      ringSize: ring_size ?? 0,
    }),
  ring_domain: ({ scope }) => toHex(ballot.ringDomain(ballot.scopeOf(scope))),
  sign_key_request: async ({ scope, roll_key, ballot_key }) =>
    (await ballot.signKeyRequest(ballot.scopeOf(scope), `0x${roll_key}`, fromHex(ballot_key))).slice(2),
  key_request_signer: ({ scope, ballot_key_hash, signature }) =>
    ballot.keyRequestSigner(ballot.scopeOf(scope), `0x${ballot_key_hash}`, `0x${signature}`),
  request_ballot_key: ({ scope, roll_key }) =>
    ballot.requestBallotKey(ballot.scopeOf(scope), ballot.rollKeyOf(roll_key)),
  hash_to_point: ({ domain, key }) => toHex(ring.hashToPoint(fromHex(domain), fromHex(key)).toRawBytes(true)),
  key_image: ({ domain, secret }) => toHex(ring.keyImage(fromHex(domain), fromHex(secret))),
  ring_sign: ({ domain, message, keys, secret }) => {
    const signed = ring.encodeSignature(ring.sign(fromHex(domain), fromHex(message), keys.map(fromHex), fromHex(secret)));
    return { key_image: toHex(signed.key_image), challenge: toHex(signed.challenge), responses: signed.responses.map(toHex) };
  },
  ring_verify: ({ domain, message, keys, signature }) =>
    ring.verify(fromHex(domain), fromHex(message), keys.map(fromHex), {
      keyImage: fromHex(signature.key_image),
      challenge: BigInt(`0x${signature.challenge}`),
      responses: signature.responses.map((s) => BigInt(`0x${s}`)),
    }),
  receipt: ({ wallet, mined, with_choice }) =>
    ballot.receiptOf(ballot.walletOf(wallet), mined, { withChoice: with_choice }),
  verify_credential: async ({ scope, modulus, voting_key, prefix, credential }) =>
    ballot.verifyCredential(
      await ballot.importCredentialKey(modulus),
      ballot.scopeOf(scope),
      voting_key,
      fromHex(prefix),
      fromHex(credential),
    ),
  leaf_hash: async ({ data }) => toHex(await merkle.leafHash(fromHex(data))),
  verify_inclusion: ({ index, size, leaf_hash, proof, root }) =>
    merkle.verifyInclusion(index, size, fromHex(leaf_hash), proof.map(fromHex), fromHex(root)),
  retally: ({ events }) => retally(events),
};

let input = '';
for await (const chunk of stdin) input += chunk;
const results = [];
for (const { op, ...args } of JSON.parse(input)) {
  try {
    results.push({ ok: await OPERATIONS[op](args) });
  } catch (error) {
    results.push({ error: String(error?.message ?? error) });
  }
}
stdout.write(JSON.stringify(results, (_key, value) => (typeof value === 'bigint' ? value.toString() : value)));
