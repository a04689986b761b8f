// Hex text <-> bytes for the JSON the portal serves (with or without 0x).

export function fromHex(text) {
  const body = text.startsWith('0x') ? text.slice(2) : text;
  if (body.length % 2 !== 0 || /[^0-9a-fA-F]/.test(body)) throw new Error(`not hex: ${text}`);
  const out = new Uint8Array(body.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(body.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
