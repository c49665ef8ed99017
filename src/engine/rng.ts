// xoshiro128** streams seeded by splitmix32, and the rejection-sampled uniform(lo, hi) of docs/engine.md.
// 32-bit integer arithmetic only (Math.imul, >>> 0): no BigInt, no floats in the state.

const TWO_32 = 4_294_967_296;
const STREAM_STEP = 0x632be5ab;
const GOLDEN_GAMMA = 0x9e3779b9;

/** One xoshiro128** generator. State words are kept as int32 (`| 0`); outputs are uint32. */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** Stream `k` of the engine seed: state = four successive splitmix32 outputs from `seed + k * 0x632BE5AB`. */
  constructor(seed: number, stream: number) {
    let x = (seed + Math.imul(stream, STREAM_STEP)) | 0;
    const words = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      x = (x + GOLDEN_GAMMA) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      words[i] = z ^ (z >>> 16);
    }
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
    this.s0 = words[0];
    this.s1 = words[1];
    this.s2 = words[2];
    this.s3 = words[3];
  }

  /** Next uint32 output. */
  next(): number {
    const s1 = this.s1;
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    const s3 = this.s3;
    this.s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  /** Uniform integer in [lo, hi] (inclusive, hi - lo + 1 <= 2^32). No draw when lo == hi;
   *  otherwise draws are rejected at or above the largest multiple of the range size. */
  uniform(lo: number, hi: number): number {
    const m = hi - lo + 1;
    if (m === 1) return lo;
    const limit = TWO_32 - (TWO_32 % m);
    let x = this.next();
    while (x >= limit) x = this.next();
    return lo + (x % m);
  }
}

/** Streams 0 .. count-1 of one seed (stream 0: shake supply; stream 1 + i: group splits of shard i). */
export function makeStreams(seed: number, count: number): Rng[] {
  const streams: Rng[] = [];
  for (let k = 0; k < count; k++) streams.push(new Rng(seed, k));
  return streams;
}
