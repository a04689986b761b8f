// A register entry's page: each record's inclusion proof, checked here.

import { fromHex } from '../lib/hex.js';
import { leafHash, verifyInclusion } from '../lib/merkle.js';
import { $, dataBlock, say } from '../lib/page.js';

const proofs = dataBlock('proof-data');

function badge(row, text, tone) {
  const span = document.createElement('span');
  span.className = `badge ${tone}`;
  span.textContent = text;
  row.querySelector('.proof-status').replaceChildren(span);
}

async function check(proof) {
  const leaf = await leafHash(new TextEncoder().encode(proof.record));
  if (proof.root === null) return ['not anchored yet', 'warn', null];
  if (proof.problem) return ['does NOT verify', 'bad', false];
  const included = await verifyInclusion(
    proof.ref.index,
    proof.tree_size,
    leaf,
    proof.path.map(fromHex),
    fromHex(proof.root),
  );
  return included ? ['included ✓', 'good', true] : ['does NOT verify', 'bad', false];
}

async function checkAll() {
  const verdict = $('proofs-verdict');
  if (!globalThis.crypto?.subtle) {
    say(verdict, 'This browser offers no Web Cryptography here (serve the portal over HTTPS).', 'bad');
    return;
  }
  let good = 0;
  let bad = 0;
  for (const [index, proof] of proofs.entries()) {
    const row = document.querySelector(`tr[data-proof="${index}"]`);
    const [text, tone, ok] = await check(proof);
    badge(row, text, tone);
    if (ok === true) good += 1;
    if (ok === false) bad += 1;
  }
  const pending = proofs.length - good - bad;
  const tail = pending ? `, ${pending} not anchored yet` : '';
  if (bad) say(verdict, `${bad} of ${proofs.length} records do NOT verify${tail}.`, 'bad');
  else say(verdict, `${good} of ${proofs.length} records verified against their anchored roots${tail}.`, 'good');
  document.body.dataset.proofs = JSON.stringify({ good, bad, pending });
}

$('check-proofs').addEventListener('click', checkAll);
checkAll();
