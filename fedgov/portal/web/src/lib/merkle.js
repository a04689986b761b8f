// RFC 9162 inclusion proofs, checked with the browser's own SHA-256 (WebCrypto):
// the same tree as ledger/merkle.py, so a proof the portal serves is checked
// here without trusting the portal's arithmetic.

const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

async function sha256(...parts) {
  const size = parts.reduce((total, part) => total + part.length, 0);
  const data = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    data.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** SHA-256(0x00 || data): an RFC 9162 leaf. */
export function leafHash(data) {
  return sha256(LEAF_PREFIX, data);
}

/**
 * The root an inclusion proof leads to (RFC 9162 section 2.1.3.2), or null
 * when the proof does not fit the index and size.
 */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn || leaf.length !== 32) return null;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32 || sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(NODE_PREFIX, p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await sha256(NODE_PREFIX, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/** Whether `proof` shows the leaf at `index` in the tree of `size` with `root`. */
export async function verifyInclusion(index, size, leaf, proof, root) {
  const computed = await rootFromInclusionProof(index, size, leaf, proof);
  return computed !== null && equal(computed, root);
}
