/** Case- and accent-insensitive form used by string search, on both sides. */
export function normaliseString(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** Escapes LIKE wildcards so user input matches literally. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A half-open interval [low, high) in epoch milliseconds; infinite ends allowed. */
export interface Range {
  low: number;
  high: number;
}

const DATE_TIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date, dateTime or instant covers at its precision:
 * `2020` is all of 2020, `2020-03-04T10:00Z` is that minute. Values without a
 * time zone are taken as UTC. Undefined when the text is not a date.
 */
export function dateRange(text: string): Range | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  const month = mo ? Number(mo) - 1 : 0;
  const day = d ? Number(d) : 1;
  const hour = h ? Number(h) : 0;
  const minute = mi ? Number(mi) : 0;
  const second = s ? Number(s) : 0;
  const millis = frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0;
  if (month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59)
    return undefined;
  const offset = tzOffsetMinutes(tz);
  // Date.UTC rolls 2020-02-30 over to March; such a date does not exist.
  if (new Date(Date.UTC(year, month, day)).getUTCDate() !== day) return undefined;
  const start = Date.UTC(year, month, day, hour, minute, second, millis) - offset * 60_000;
  if (Number.isNaN(start)) return undefined;
  let end: number;
  if (!mo) end = Date.UTC(year + 1, 0, 1);
  else if (!d) end = Date.UTC(year, month + 1, 1);
  else if (!h) end = Date.UTC(year, month, day + 1);
  else if (!s) end = start + 60_000;
  else if (!frac) end = start + 1000;
  else end = start + 10 ** (3 - Math.min(frac.length, 3));
  return { low: start, high: end };
}

function tzOffsetMinutes(tz: string | undefined): number {
  if (!tz || tz === 'Z') return 0;
  const sign = tz.startsWith('-') ? -1 : 1;
  return sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
}

/** The range a decimal's written precision implies: 100 is [99.5, 100.5), 1.50 is [1.495, 1.505). */
export function decimalRange(
  text: string,
): { value: number; low: number; high: number } | undefined {
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  const value = Number(text);
  const [mantissa = '', exponent] = text.toLowerCase().split('e');
  const decimals = mantissa.includes('.') ? mantissa.split('.')[1]!.length : 0;
  const half = 0.5 * 10 ** (-decimals + Number(exponent ?? 0));
  return { value, low: value - half, high: value + half };
}

export function toTimestamp(ms: number): string {
  if (ms === Number.NEGATIVE_INFINITY) return '-infinity';
  if (ms === Number.POSITIVE_INFINITY) return 'infinity';
  return new Date(ms).toISOString();
}
