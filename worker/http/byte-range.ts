/** The `Range` requests the API serves (logs, artifact downloads). */
/**
 * One range of a `Range` header, as the API serves it: `bytes=N-` or `bytes=N-M` (M inclusive).
 * Anything else — other units, several ranges, suffix ranges — is null, and the whole body is
 * sent, as HTTP allows a server to do.
 */
export function byteRange(header: string | undefined): { from: number; to?: number } | null {
  const m = header?.trim().match(/^bytes=(\d{1,15})-(\d{0,15})$/);
  if (!m) return null;
  const from = Number(m[1]);
  if (m[2] === "") return { from };
  const last = Number(m[2]);
  return last >= from ? { from, to: last + 1 } : null;
}

/**
 * The bytes [from, to) of a body of `size` bytes that a range asks for, cut at its end; null when
 * the range starts at or past the end (answered 416 with `content-range: bytes *\/size`).
 */
export function rangeWithin(range: { from: number; to?: number }, size: number): { from: number; to: number } | null {
  return range.from < size ? { from: range.from, to: Math.min(range.to ?? size, size) } : null;
}
