// Linkable ring signatures (LSAG) over secp256k1, byte for byte as
// ledger/voting/ring.py makes and checks them (the encoding, the hash to
// point, the challenges): a ballot signed in the browser verifies in
// `fedgov vote tally --verify`, and the browser's re-tally verifies the
// command line's. The group arithmetic is @noble/curves' secp256k1 (audited,
// constant-time scalar multiplication with the secret), the hashes
// @noble/hashes'. See ring.py for the scheme.

import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256, sha512 } from '@noble/hashes/sha2';
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/abstract/utils';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils';

const Point = secp256k1.ProjectivePoint;
export const GROUP_ORDER = secp256k1.CURVE.n;
export const POINT_BYTES = 33;
export const SCALAR_BYTES = 32;
const HASH_TO_POINT_TAG = utf8ToBytes('fedgov-lsag-v1/hash-to-point');
const CHALLENGE_TAG = utf8ToBytes('fedgov-lsag-v1/challenge');
const HASH_TO_POINT_TRIES = 256;

/** Each part with its length first (4 bytes, big-endian): ring.py's `_framed`. */
function framed(...parts) {
  return concatBytes(...parts.flatMap((part) => [numberToBytesBE(part.length, 4), part]));
}

function scalarBytes(value) {
  return numberToBytesBE(value, SCALAR_BYTES);
}

/** A compressed point decoded, or an error naming `where`. */
function point(bytes, where) {
  if (bytes.length !== POINT_BYTES) {
    throw new Error(`${where}: a ballot key is ${POINT_BYTES} bytes, got ${bytes.length}`);
  }
  try {
    return Point.fromHex(bytes);
  } catch {
    throw new Error(`${where}: not a point of secp256k1`);
  }
}

function compressed(p) {
  // toRawBytes refuses the point at infinity, as libsecp256k1's serialization does.
  return p.toRawBytes(true);
}

/** Whether `key` is a compressed point of secp256k1 (a usable ballot key). */
export function isPoint(key) {
  try {
    point(key, 'key');
    return true;
  } catch {
    return false;
  }
}

/** `Hp(domain, public)`: try-and-increment to an x-coordinate with even y. */
export function hashToPoint(domain, publicKey) {
  const seed = framed(HASH_TO_POINT_TAG, domain, publicKey);
  for (let counter = 0; counter < HASH_TO_POINT_TRIES; counter += 1) {
    const x = sha256(concatBytes(seed, numberToBytesBE(counter, 4)));
    try {
      return Point.fromHex(concatBytes(Uint8Array.of(2), x));
    } catch {
      // x is not on the curve (or not below the field prime): next counter.
    }
  }
  throw new Error('hash to point: no point found (probability 2**-256)');
}

function prefixOf(domain, message, ring, image) {
  return sha512(framed(CHALLENGE_TAG, domain, message, image, ...ring));
}

function challenge(prefix, left, right) {
  // 512 bits reduced modulo the ~256-bit order, as ring.py does.
  return bytesToNumberBE(sha512(concatBytes(prefix, compressed(left), compressed(right)))) % GROUP_ORDER;
}

/** `s*G + c*P` and `s*H + c*I`; every input is public (throws at infinity). */
function commitments(p, base, image, c, s) {
  // G through `multiply` (its precomputed table): in @noble/curves 1.9.1,
  // `BASE.multiplyUnsafe` of a full-size scalar gave a wrong point here
  // (tests/portal/test_ring_crypto.py checks the signatures against libsecp256k1).
  return [
    Point.BASE.multiply(s).add(p.multiplyUnsafe(c)),
    base.multiplyUnsafe(s).add(image.multiplyUnsafe(c)),
  ];
}

// A re-tally meets each ring key many times: decode it and hash it once.
const members = new Map();

function member(domain, key, where) {
  const id = `${bytesToHex(domain)}:${bytesToHex(key)}`;
  let found = members.get(id);
  if (found === undefined) {
    found = [point(key, where), hashToPoint(domain, key)];
    members.set(id, found);
  }
  return found;
}

function randomScalar() {
  return bytesToNumberBE(secp256k1.utils.randomPrivateKey());
}

/** A fresh ballot key pair: `{ secret (32 bytes), public (33 bytes, compressed) }`. */
export function newBallotKey() {
  const secret = secp256k1.utils.randomPrivateKey();
  return { secret, public: secp256k1.getPublicKey(secret, true) };
}

/** The compressed public key of a 32-byte ballot secret. */
export function ballotPublicKey(secret) {
  return secp256k1.getPublicKey(secret, true);
}

/** The key image of `secret` under `domain` (the ballot's nullifier). */
export function keyImage(domain, secret) {
  return compressed(hashToPoint(domain, ballotPublicKey(secret)).multiply(bytesToNumberBE(secret)));
}

/**
 * Sign `message` as one of `ring` (compressed keys, the secret's among them):
 * `{ keyImage, challenge, responses }`, scalars as bigints.
 */
export function sign(domain, message, ring, secret) {
  const own = ballotPublicKey(secret);
  const position = ring.findIndex((key) => key.length === own.length && key.every((b, i) => b === own[i]));
  if (position < 0) throw new Error("the signer's ballot key is not in the ring");
  const size = ring.length;
  const points = ring.map((key, i) => point(key, `ring[${i}]`));
  const bases = ring.map((key) => hashToPoint(domain, key));
  const x = bytesToNumberBE(secret);
  const image = bases[position].multiply(x);
  const imageBytes = compressed(image);
  const prefix = prefixOf(domain, message, ring, imageBytes);

  const nonce = randomScalar();
  const challenges = new Array(size).fill(0n);
  const responses = new Array(size).fill(0n);
  challenges[(position + 1) % size] = challenge(prefix, Point.BASE.multiply(nonce), bases[position].multiply(nonce));
  for (let step = 1; step < size; step += 1) {
    const i = (position + step) % size;
    responses[i] = randomScalar();
    challenges[(i + 1) % size] = challenge(
      prefix,
      ...commitments(points[i], bases[i], image, challenges[i], responses[i]),
    );
  }
  responses[position] = (((nonce - challenges[position] * x) % GROUP_ORDER) + GROUP_ORDER) % GROUP_ORDER;
  // Probability 2**-256 each: a zero scalar cannot be used, so sign afresh.
  if (responses[position] === 0n || challenges[0] === 0n) return sign(domain, message, ring, secret);
  return { keyImage: imageBytes, challenge: challenges[0], responses };
}

/** Whether `signature` is one of `ring`'s signatures over `message`. */
export function verify(domain, message, ring, signature) {
  const size = ring.length;
  if (size === 0 || signature.responses.length !== size) return false;
  if (![signature.challenge, ...signature.responses].every((s) => s > 0n && s < GROUP_ORDER)) return false;
  try {
    if (signature.keyImage.length !== POINT_BYTES) return false;
    const image = Point.fromHex(signature.keyImage);
    const prefix = prefixOf(domain, message, ring, signature.keyImage);
    let c = signature.challenge;
    ring.forEach((key, i) => {
      const [p, base] = member(domain, key, `ring[${i}]`);
      c = challenge(prefix, ...commitments(p, base, image, c, signature.responses[i]));
    });
    return c === signature.challenge;
  } catch {
    // A ring key or the image off the curve, or a sum at infinity.
    return false;
  }
}

/** A signature's scalars as the chain holds them (32 bytes each). */
export function encodeSignature(signature) {
  return {
    key_image: signature.keyImage,
    challenge: scalarBytes(signature.challenge),
    responses: signature.responses.map(scalarBytes),
  };
}
