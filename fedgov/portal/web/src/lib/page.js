// What every page script shares: elements, the CSRF token, JSON calls, files.

export const $ = (id) => document.getElementById(id);

/** The page's CSRF token (its double-submit cookie's value). */
export function csrf() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

/** GET (no body) or POST (JSON body) to the portal; the JSON answer or a thrown Error. */
export async function api(path, body) {
  const init = body === undefined
    ? { headers: { Accept: 'application/json' } }
    : {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf() },
        body: JSON.stringify(body),
      };
  const response = await fetch(path, { ...init, credentials: 'same-origin' });
  const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

/** The JSON object in a data block (`<script type="application/json">`). */
export function dataBlock(id) {
  return JSON.parse($(id).textContent);
}

/** The JSON document in the file an `<input type=file>` holds. */
export async function readJsonFile(input) {
  const file = input.files?.[0];
  if (!file) return null;
  if (file.size > 64 * 1024) throw new Error(`${file.name} is too large for a voting file`);
  try {
    return JSON.parse(await file.text());
  } catch {
    throw new Error(`${file.name} is not a JSON file`);
  }
}

/** Point a download link at `document` as a JSON file. */
export function offerDownload(link, document, name) {
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
  const blob = new Blob([`${JSON.stringify(document, null, 1)}\n`], { type: 'application/json' });
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.classList.remove('hidden');
}

/** Write `text` into a status line, marked good, bad or neutral. */
export function say(element, text, tone = '') {
  element.textContent = text;
  element.classList.remove('good', 'bad');
  if (tone) element.classList.add(tone);
}

export function cell(row, text, className = '') {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}
