// A resident's ballot cryptography, computed in the browser exactly as
// ledger/voting/ballot.py, ring_ballot.py and resident.py compute it (and as
// the Consultation contract checks it): the voting key, the credential
// message; with ring credentials the ballot key, the roll key's EIP-712
// ballot-key request and the ballot's LSAG ring signature (./ring.js); with
// blind RSA credentials (older consultations) RFC 9474 blinding and
// finalization (RSABSSA-SHA256-PSS-Randomized) and the roll key's EIP-712
// credential request; the commitment and the voting key's EIP-712 ballot
// authorization. The files it reads and writes are the ones the
// command line reads and writes (docs/voting.md, "The files a resident
// handles"), so a resident can switch between the portal and `fedgov vote`.
//
// Nothing here talks to the network: the page hands the results to the
// registrar and the relayer.

import { BlindRSA } from '@cloudflare/blindrsa-ts';
import {
  bytesToHex,
  concatBytes,
  encodeAbiParameters,
  getAddress,
  hexToBytes,
  keccak256,
  numberToBytes,
  recoverTypedDataAddress,
  stringToBytes,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import * as ring from './ring.js';

export const WALLET_FORMAT = 'fedgov-voting-wallet-v1';
export const REQUEST_FORMAT = 'fedgov-credential-request-v2';
export const KEY_REQUEST_FORMAT = 'fedgov-ballot-key-request-v1';
export const RESPONSE_FORMAT = 'fedgov-credential-response-v1';
export const RECEIPT_FORMAT = 'fedgov-ballot-receipt-v1';
export const ROLL_KEY_FORMAT = 'fedgov-roll-key-v1';

export const CREDENTIAL_TAG = stringToBytes('fedgov-consultation-key-v1:');
const RING_DOMAIN_TAG = stringToBytes('fedgov-consultation-ring-v1:');
export const COMMITMENT_TAG = keccak256(stringToBytes('fedgov.consultation.commitment.v1'));
const ROLL_ENTRY_TAG = stringToBytes('fedgov-roll-entry-v1');
const PREFIX_BYTES = 32;
const SALT_BYTES = 32;
const MODULUS_BYTES = 256;

// RFC 9474's PSS-Randomized variant with SHA-256 for the hash and MGF1 and a
// 32-byte salt: the EVM has a SHA-256 precompile and no SHA-384.
// prepareType 32 is blindrsa-ts' PrepareType.Randomized (a 32-byte prefix).
export const SUITE = new BlindRSA({
  name: 'RSABSSA-SHA256-PSS-Randomized',
  hash: 'SHA-256',
  saltLength: 32,
  prepareType: 32,
  supportsRSARAW: false,
});

const REQUEST_TYPES = {
  CredentialRequest: [
    { name: 'consultationId', type: 'uint256' },
    { name: 'blindedMessageHash', type: 'bytes32' },
  ],
};
const KEY_REQUEST_TYPES = {
  BallotKeyRequest: [
    { name: 'consultationId', type: 'uint256' },
    { name: 'ballotKeyHash', type: 'bytes32' },
  ],
};
const BALLOT_TYPES = {
  Ballot: [
    { name: 'consultationId', type: 'uint256' },
    { name: 'votingKey', type: 'address' },
    { name: 'commitment', type: 'bytes32' },
  ],
};

/** `0x`-less lowercase hex, as the voting files hold byte strings. */
export function plainHex(bytes) {
  return bytesToHex(bytes).slice(2);
}

/** Bytes from hex with or without `0x`; `name` and `size` make errors precise. */
export function bytesOf(text, name, size) {
  if (typeof text !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(text)) {
    throw new Error(`${name}: not hex`);
  }
  const bytes = hexToBytes(text.startsWith('0x') ? text : `0x${text}`);
  if (size !== undefined && bytes.length !== size) {
    throw new Error(`${name}: must be ${size} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** A consultation's scope: chain id, contract, consultation id. */
export function scopeOf(document) {
  const chainId = BigInt(document.chain_id);
  const consultationId = BigInt(document.consultation_id);
  if (chainId < 1n || consultationId < 1n) {
    throw new Error('chain_id and consultation_id must be positive');
  }
  return { chainId, contract: getAddress(document.contract), consultationId };
}

function scopeFields(scope) {
  return {
    chain_id: Number(scope.chainId),
    contract: scope.contract,
    consultation_id: Number(scope.consultationId),
  };
}

export function sameScope(a, b) {
  return a.chainId === b.chainId && a.contract === b.contract && a.consultationId === b.consultationId;
}

function domain(scope) {
  return {
    name: 'fedgov-consultation',
    version: '1',
    chainId: scope.chainId,
    verifyingContract: scope.contract,
  };
}

/** The message a credential signs for `votingKey` (before randomization). */
export function credentialMessage(scope, votingKey) {
  return concatBytes([
    CREDENTIAL_TAG,
    numberToBytes(scope.chainId, { size: 32 }),
    hexToBytes(scope.contract),
    numberToBytes(scope.consultationId, { size: 32 }),
    hexToBytes(getAddress(votingKey)),
  ]);
}

/** The domain of a consultation's ring signatures and key images. */
export function ringDomain(scope) {
  return concatBytes([
    RING_DOMAIN_TAG,
    numberToBytes(scope.chainId, { size: 32 }),
    hexToBytes(scope.contract),
    numberToBytes(scope.consultationId, { size: 32 }),
  ]);
}

/** keccak256(abi.encode(COMMITMENT_TAG, chain, contract, id, key, choice, salt)). */
export function commitment(scope, votingKey, choice, salt) {
  if (salt.length !== SALT_BYTES) throw new Error(`salt must be ${SALT_BYTES} bytes`);
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'uint256' },
        { type: 'bytes32' },
      ],
      [
        COMMITMENT_TAG,
        scope.chainId,
        scope.contract,
        scope.consultationId,
        getAddress(votingKey),
        BigInt(choice),
        bytesToHex(salt),
      ],
    ),
  );
}

/** The roll key's 65-byte request for a credential over `blindedMessage`. */
export function signRequest(scope, rollKey, blindedMessage) {
  return privateKeyToAccount(rollKey).signTypedData({
    domain: domain(scope),
    types: REQUEST_TYPES,
    primaryType: 'CredentialRequest',
    message: {
      consultationId: scope.consultationId,
      blindedMessageHash: keccak256(blindedMessage),
    },
  });
}

/** Who signed a credential request (the contract's and the re-tally's check). */
export function requestSigner(scope, blindedMessageHash, signature) {
  return recoverTypedDataAddress({
    domain: domain(scope),
    types: REQUEST_TYPES,
    primaryType: 'CredentialRequest',
    message: { consultationId: scope.consultationId, blindedMessageHash },
    signature,
  });
}

/** The roll key's 65-byte request that `ballotKey` (33 bytes) be recorded. */
export function signKeyRequest(scope, rollKey, ballotKey) {
  return privateKeyToAccount(rollKey).signTypedData({
    domain: domain(scope),
    types: KEY_REQUEST_TYPES,
    primaryType: 'BallotKeyRequest',
    message: { consultationId: scope.consultationId, ballotKeyHash: keccak256(ballotKey) },
  });
}

/** Who signed a ballot-key request (the contract's and the re-tally's check). */
export function keyRequestSigner(scope, ballotKeyHash, signature) {
  return recoverTypedDataAddress({
    domain: domain(scope),
    types: KEY_REQUEST_TYPES,
    primaryType: 'BallotKeyRequest',
    message: { consultationId: scope.consultationId, ballotKeyHash },
    signature,
  });
}

/** The voting key's 65-byte authorization of `ballotCommitment`. */
export function signBallot(scope, votingKey, ballotCommitment) {
  const account = privateKeyToAccount(votingKey);
  return account.signTypedData({
    domain: domain(scope),
    types: BALLOT_TYPES,
    primaryType: 'Ballot',
    message: {
      consultationId: scope.consultationId,
      votingKey: account.address,
      commitment: ballotCommitment,
    },
  });
}

/** SHA-256("fedgov-roll-entry-v1" || salt || resident id): a roll entry. */
export async function entryCommitment(resident, salt) {
  const data = concatBytes([ROLL_ENTRY_TAG, salt, stringToBytes(resident)]);
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

function base64url(bytes) {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The registrar's credential key (RSA-2048, e = 65537) as fixed on chain. */
export function importCredentialKey(modulus) {
  const n = typeof modulus === 'string' ? bytesOf(modulus, 'modulus', MODULUS_BYTES) : modulus;
  if (n.length !== MODULUS_BYTES || (n[0] & 0x80) === 0) {
    throw new Error('the credential key must be an RSA-2048 modulus');
  }
  return crypto.subtle.importKey(
    'jwk',
    { kty: 'RSA', n: base64url(n), e: 'AQAB', alg: 'PS256', ext: true },
    { name: 'RSA-PSS', hash: 'SHA-256' },
    true,
    ['verify'],
  );
}

/** Whether `signature` is a credential for `votingKey` with message `prefix`. */
export async function verifyCredential(publicKey, scope, votingKey, prefix, signature) {
  const message = concatBytes([prefix, credentialMessage(scope, votingKey)]);
  return SUITE.verify(publicKey, signature, message);
}

/** The blind's inverse as the wallet file holds it (Python's `hex(int)`). */
function inverseText(inv) {
  return `0x${BigInt(bytesToHex(inv)).toString(16)}`;
}

function inverseBytes(text) {
  const value = BigInt(text);
  return numberToBytes(value, { size: MODULUS_BYTES });
}

/** A fresh roll key (`fedgov vote enroll`'s file). */
export function newRollKey() {
  const privateKey = generatePrivateKey();
  return {
    format: ROLL_KEY_FORMAT,
    address: privateKeyToAccount(privateKey).address,
    private_key: privateKey.slice(2),
  };
}

/** The roll key in a `fedgov-roll-key-v1` document; its address is checked. */
export function rollKeyOf(document) {
  if (document?.format !== ROLL_KEY_FORMAT) throw new Error(`not a ${ROLL_KEY_FORMAT} file`);
  const privateKey = bytesToHex(bytesOf(document.private_key, 'private_key', 32));
  const address = privateKeyToAccount(privateKey).address;
  if (address.toLowerCase() !== String(document.address).toLowerCase()) {
    throw new Error(`the key is ${address}'s, not ${document.address}'s as recorded`);
  }
  return { privateKey, address };
}

/**
 * A wallet with a fresh voting key, and the request for its credential
 * (`fedgov vote request`): the credential message is blinded under the key
 * fixed on chain, and the roll key signs the blinded value.
 */
export async function requestCredential(scope, modulus, rollKey) {
  const votingKey = generatePrivateKey();
  const votingAddress = privateKeyToAccount(votingKey).address;
  const publicKey = await importCredentialKey(modulus);
  const prepared = SUITE.prepare(credentialMessage(scope, votingAddress));
  const { blindedMsg, inv } = await SUITE.blind(publicKey, prepared);
  const wallet = {
    format: WALLET_FORMAT,
    ...scopeFields(scope),
    voting_key: votingKey.slice(2),
    voting_address: votingAddress,
    message_prefix: plainHex(prepared.slice(0, PREFIX_BYTES)),
    blinded_message: plainHex(blindedMsg),
    inverse: inverseText(inv),
    credential: null,
    choice: null,
    salt: null,
    commitment: null,
    revealed: false,
  };
  const request = {
    format: REQUEST_FORMAT,
    ...scopeFields(scope),
    blinded_message: plainHex(blindedMsg),
    roll_key: rollKey.address,
    signature: (await signRequest(scope, rollKey.privateKey, blindedMsg)).slice(2),
  };
  return { wallet, request };
}

/**
 * A wallet with fresh voting and ballot keys, and the roll key's request that
 * the ballot key be recorded (`fedgov vote request` for a ring consultation).
 * No registrar answer follows: the recorded key is the credential.
 */
export async function requestBallotKey(scope, rollKey) {
  const votingKey = generatePrivateKey();
  const pair = ring.newBallotKey();
  const wallet = {
    format: WALLET_FORMAT,
    ...scopeFields(scope),
    voting_key: votingKey.slice(2),
    voting_address: privateKeyToAccount(votingKey).address,
    message_prefix: '',
    blinded_message: '',
    inverse: null,
    credential: null,
    ballot_secret: plainHex(pair.secret),
    choice: null,
    salt: null,
    commitment: null,
    revealed: false,
  };
  const request = {
    format: KEY_REQUEST_FORMAT,
    ...scopeFields(scope),
    ballot_key: plainHex(pair.public),
    roll_key: rollKey.address,
    signature: (await signKeyRequest(scope, rollKey.privateKey, pair.public)).slice(2),
  };
  return { wallet, request };
}

/** The wallet's recorded ballot key (compressed, 33 bytes); `null` for blind RSA. */
export function ballotKeyOf(wallet) {
  if (!wallet.ballot_secret) return null;
  return ring.ballotPublicKey(bytesOf(wallet.ballot_secret, 'ballot_secret', 32));
}

/** The recorded ballot keys in issuance order, from the portal's events (hex each). */
export function registeredKeys(issued) {
  return issued.map((e, number) => {
    if (Number(e.issued) !== number + 1) {
      throw new Error(`ballot key events out of order: event ${number} says issuance ${e.issued}`);
    }
    return bytesOf(e.ballot_key, `ballot key ${number}`);
  });
}

/** `size` issuance numbers, `own`'s among them, the others uniformly at random, sorted. */
export function chooseRing(keys, own, size) {
  const mine = keys.findIndex((key) => bytesToHex(key) === bytesToHex(own));
  if (mine < 0) {
    throw new Error(
      'your ballot key is not among the recorded ones: was your request recorded before the commit window opened?',
    );
  }
  if (!(size >= 1 && size <= keys.length)) throw new Error(`a ring of ${size} from ${keys.length} recorded keys`);
  const others = keys.map((_key, i) => i).filter((i) => i !== mine);
  const members = [mine];
  for (let k = 1; k < size; k += 1) {
    members.push(others.splice(uniformBelow(others.length), 1)[0]);
  }
  return members.sort((a, b) => a - b);
}

/** A uniform integer in [0, bound) from the browser's CSPRNG (no modulo bias). */
function uniformBelow(bound) {
  const limit = 2 ** 32 - (2 ** 32 % bound);
  const word = new Uint32Array(1);
  do crypto.getRandomValues(word);
  while (word[0] >= limit);
  return word[0] % bound;
}

/** Why a ring ballot (as the portal's events hold it) is not eligible, or `null`. */
export function ringBallotProblem(scope, keys, ballot) {
  const members = ballot.ring.map(Number);
  if (members.some((m, i) => i > 0 && m <= members[i - 1])) return 'its ring members do not ascend';
  if (members.length === 0 || members[members.length - 1] >= keys.length) {
    return 'its ring names a key that was never recorded';
  }
  let keyImage;
  try {
    keyImage = bytesOf(ballot.key_image, 'key_image');
  } catch (error) {
    return error.message;
  }
  if (keyImage.length !== ring.POINT_BYTES || ![2, 3].includes(keyImage[0])) {
    return `key image must be a ${ring.POINT_BYTES}-byte compressed point, got ${keyImage.length} bytes`;
  }
  const signature = {
    keyImage,
    challenge: BigInt(`0x${plainHex(bytesOf(ballot.challenge, 'challenge', 32))}`),
    responses: ballot.responses.map((s, i) => BigInt(`0x${plainHex(bytesOf(s, `responses[${i}]`, 32))}`)),
  };
  const valid = ring.verify(
    ringDomain(scope),
    credentialMessage(scope, ballot.voting_key),
    members.map((i) => keys[i]),
    signature,
  );
  return valid ? null : 'its ring signature does not verify';
}

/** A wallet read from its file, checked enough to be used. */
export function walletOf(document) {
  if (document?.format !== WALLET_FORMAT) throw new Error(`not a ${WALLET_FORMAT} file`);
  const votingKey = bytesToHex(bytesOf(document.voting_key, 'voting_key', 32));
  const address = privateKeyToAccount(votingKey).address;
  if (document.voting_address && getAddress(document.voting_address) !== address) {
    throw new Error('the wallet\'s voting key does not match its voting address');
  }
  if (document.ballot_secret) {
    bytesOf(document.ballot_secret, 'ballot_secret', 32);
  } else {
    bytesOf(document.message_prefix, 'message_prefix', PREFIX_BYTES);
  }
  scopeOf(document);
  return { ...document, voting_address: address };
}

/**
 * Unblind the registrar's answer and verify it (RFC 9474 Finalize;
 * `fedgov vote accept`): a bad answer throws.
 */
export async function acceptCredential(wallet, modulus, blindSignature) {
  if (wallet.inverse === null) throw new Error('this wallet has accepted its credential already');
  const scope = scopeOf(wallet);
  const publicKey = await importCredentialKey(modulus);
  const prepared = concatBytes([
    bytesOf(wallet.message_prefix, 'message_prefix', PREFIX_BYTES),
    credentialMessage(scope, wallet.voting_address),
  ]);
  const signature = await SUITE.finalize(
    publicKey,
    prepared,
    bytesOf(blindSignature, 'blind_signature', MODULUS_BYTES),
    inverseBytes(wallet.inverse),
  );
  return { ...wallet, credential: plainHex(signature), inverse: null };
}

/**
 * Commit to `choice` with a fresh salt (`fedgov vote commit`): the updated
 * wallet, and what the relayer sends on chain. With ring credentials `keys`
 * are the recorded ballot keys (`registeredKeys`) and `ringSize` the
 * consultation's; the ballot is signed as one of a ring of them.
 */
export async function castBallot(wallet, choice, { keys = null, ringSize = 0 } = {}) {
  const own = ballotKeyOf(wallet);
  if (own === null && !wallet.credential) throw new Error('this wallet holds no credential yet');
  if (wallet.commitment) throw new Error('this wallet has cast its ballot already');
  const scope = scopeOf(wallet);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const ballot = commitment(scope, wallet.voting_address, choice, salt);
  const authorization = await signBallot(scope, `0x${wallet.voting_key}`, ballot);
  let credential;
  if (own === null) {
    credential = { message_prefix: wallet.message_prefix, credential: wallet.credential };
  } else {
    if (keys === null || ringSize < 1) throw new Error('a ring ballot needs the recorded keys and the ring size');
    const members = chooseRing(keys, own, Math.min(ringSize, keys.length));
    const signed = ring.encodeSignature(
      ring.sign(
        ringDomain(scope),
        credentialMessage(scope, wallet.voting_address),
        members.map((i) => keys[i]),
        bytesOf(wallet.ballot_secret, 'ballot_secret', 32),
      ),
    );
    credential = {
      ring: members,
      key_image: plainHex(signed.key_image),
      challenge: plainHex(signed.challenge),
      responses: signed.responses.map(plainHex),
    };
  }
  return {
    wallet: { ...wallet, choice, salt: plainHex(salt), commitment: ballot.slice(2) },
    ballot: {
      voting_key: wallet.voting_address,
      commitment: ballot.slice(2),
      ...credential,
      authorization: authorization.slice(2),
    },
  };
}

/** The receipt `fedgov vote check` reads, for a ballot the relayer committed. */
export function receiptOf(wallet, mined, { withChoice = false } = {}) {
  const receipt = {
    format: RECEIPT_FORMAT,
    ...scopeFields(scopeOf(wallet)),
    voting_key: wallet.voting_address,
    commitment: wallet.commitment,
    transaction_hash: plainHex(bytesOf(mined.transaction_hash, 'transaction_hash', 32)),
    block_number: Number(mined.block_number),
  };
  if (withChoice) {
    receipt.choice = wallet.choice;
    receipt.salt = wallet.salt;
  }
  return receipt;
}

/** What the relayer sends to reveal the wallet's ballot (`fedgov vote reveal`). */
export function revealOf(wallet) {
  if (wallet.choice === null || wallet.salt === null) throw new Error('this wallet has cast no ballot');
  if (wallet.revealed) throw new Error('this wallet\'s ballot is revealed already');
  return { voting_key: wallet.voting_address, choice: wallet.choice, salt: wallet.salt };
}
