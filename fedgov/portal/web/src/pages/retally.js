// The consultation page's recount: every event re-verified in this browser.

import { retally } from '../lib/retally.js';
import { $, api, cell, say } from '../lib/page.js';

const box = $('retally');
const id = box.dataset.consultation;

async function run() {
  const verdict = $('retally-verdict');
  $('retally-result').classList.remove('hidden');
  say(verdict, 'Fetching the events and recounting…');
  $('retally-run').disabled = true;
  try {
    const events = await api(`/api/consultations/${id}/events`);
    const started = performance.now();
    const result = await retally(events);
    const ms = performance.now() - started;
    const rows = $('retally-rows');
    rows.replaceChildren();
    events.options.forEach((option, index) => {
      const row = rows.insertRow();
      cell(row, option);
      cell(row, String(result.tally[index]), 'num');
      cell(row, String(events.contract.tally[index]), 'num');
    });
    $('retally-counts').textContent =
      `${result.issued} ${events.ring_size > 0 ? 'ballot keys' : 'credentials'}, ${result.committed} valid ballots, ${result.revealed} revealed, ` +
      `${result.unrevealed.length} never revealed; events up to block ${events.block}; ` +
      `recounted in ${ms.toFixed(0)} ms.`;
    const problems = $('retally-problems');
    problems.replaceChildren(
      ...result.problems.map((problem) => {
        const item = document.createElement('li');
        item.textContent = problem;
        return item;
      }),
    );
    if (result.problems.length === 0) {
      say(verdict, 'The recount matches the contract.', 'good');
    } else {
      say(verdict, `The recount does NOT match: ${result.problems.length} problem(s).`, 'bad');
    }
    box.dataset.result = JSON.stringify({ tally: result.tally, problems: result.problems });
  } catch (error) {
    say(verdict, error.message, 'bad');
  } finally {
    $('retally-run').disabled = false;
  }
}

$('retally-run').addEventListener('click', run);
