// The coordination rule: which users shake in which second, and when inside it.
//
// Every client process evaluates the same pure function of (second, qps, total users), so processes
// that hold disjoint user-id ranges together send exactly `qps` shakes in every second without
// talking to each other.
//
// Second `s` has `qps` global slots k = 0..qps-1; slot k is due at offset floor(k * 1e6 / qps) µs,
// so slots are spread evenly across the second. Slot k belongs to the user
//     user(g) = (g * stride mod total) + 1,   g = s * qps + k   (a running global slot number)
// with `stride` coprime with `total`: g -> user is a bijection on every run of `total` consecutive
// slots, so every user shakes equally often, and consecutive slots jump across the id space, so a
// process that owns a contiguous id range gets slots spread over the whole second rather than a
// burst. Each slot has exactly one owner, hence exactly `qps` shakes per second for any qps, also
// when qps does not divide the user count (and when qps > total: some users then shake twice).
//
// All products stay below 2^53 because total <= MAX_TOTAL_USERS (2^26).

export const MAX_TOTAL_USERS = 2 ** 26;
export const MICROS_PER_SECOND = 1_000_000;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The stride for `total` users: the first number >= total / golden ratio that is coprime with total. */
export function strideFor(total: number): number {
  checkTotal(total);
  let stride = Math.max(1, Math.round(total * 0.6180339887498949));
  while (gcd(stride, total) !== 1) stride++;
  return stride;
}

function checkTotal(total: number): void {
  if (!Number.isInteger(total) || total < 1 || total > MAX_TOTAL_USERS) {
    throw new RangeError(`total users must be an integer in 1..${MAX_TOTAL_USERS}, got ${total}`);
  }
}

/** Offset (µs within its second) of global slot k when the second has `qps` slots. */
export function slotOffsetMicros(k: number, qps: number): number {
  return Math.floor((k * MICROS_PER_SECOND) / qps);
}

export interface ScheduleOut {
  /** user ids, in the order they are due */
  users: Uint32Array;
  /** offsets in µs within the second, non-decreasing */
  offsetsMicros: Uint32Array;
}

/** A reusable schedule buffer big enough for `qps` slots. */
export function scheduleBuffer(qps: number): ScheduleOut {
  const n = Math.max(1, qps);
  return { users: new Uint32Array(n), offsetsMicros: new Uint32Array(n) };
}

/**
 * Write into `out` the shakes due in unix second `second` for users in [from, to] (inclusive),
 * sorted by offset; returns how many. `out` must hold at least `qps` items. Allocation-free.
 */
export function fillSecond(second: number, qps: number, total: number, from: number, to: number, out: ScheduleOut): number {
  checkTotal(total);
  if (!Number.isInteger(qps) || qps < 0) throw new RangeError(`qps must be a non-negative integer, got ${qps}`);
  if (!Number.isInteger(second) || second < 0) throw new RangeError(`second must be a non-negative integer`);
  if (qps === 0 || to < from) return 0;
  if (out.users.length < qps) throw new RangeError(`schedule buffer holds ${out.users.length} slots, need ${qps}`);
  const stride = strideFor(total);
  // g0 = second * qps (mod total); user index of slot k is (g0 + k) * stride (mod total).
  const g0 = ((second % total) * (qps % total)) % total;
  let index = (g0 * stride) % total; // 0-based user index of slot 0
  let n = 0;
  for (let k = 0; k < qps; k++) {
    const user = index + 1;
    if (user >= from && user <= to) {
      out.users[n] = user;
      out.offsetsMicros[n] = slotOffsetMicros(k, qps);
      n++;
    }
    index += stride;
    if (index >= total) index -= total;
  }
  return n;
}

export interface Slot {
  user: number;
  offsetMicros: number;
}

/** The same rule as a plain list (tests, tools): the shakes due in `second` for users in [from, to]. */
export function slotsInSecond(second: number, qps: number, total: number, from: number, to: number): Slot[] {
  const out = scheduleBuffer(qps);
  const n = fillSecond(second, qps, total, from, to, out);
  const slots: Slot[] = new Array(n);
  for (let i = 0; i < n; i++) slots[i] = { user: out.users[i], offsetMicros: out.offsetsMicros[i] };
  return slots;
}
