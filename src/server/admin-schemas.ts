// The bodies of the admin API's POST routes (docs/admin-api.md) as zod schemas: types, bounds and
// defaults in one place. A body that does not fit is a BadRequest (400) whose message names the
// field and what it must be ("rule.max must be an integer in [5, 100000000]"). Checks that need
// the server's state (its split mode) or answer 422 (a cover past the protocol's limits) stay in
// the routes. The admin API loads this module with its first POST (zod is ~3 MiB of heap).
import { z } from 'zod';
import { MAX_PACKET_CENTS, MAX_RECIPIENTS, MAX_SHARES, type AmountRule } from '../engine/types.ts';
import { BadRequest } from './http-util.ts';

const DAY_MS = 86_400_000;
const MAX_USER = 0xfffffffe;
const MAX_U32 = 0xffffffff;

const intIn = (min: number, max: number) => {
  const error = `must be an integer in [${min}, ${max}]`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const positive = z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' });
/** `schema`, with `fallback` for a field left out or null (as the routes took them before). */
const or = <T>(schema: z.ZodType<T>, fallback: T) => schema.nullish().transform((v) => v ?? fallback);
const expiresInMs = or(intIn(1, 365 * DAY_MS), DAY_MS);

const RULE_SHAPE = 'must be {"kind":"range","min":..,"max":..} or {"kind":"list","values":[..]}';
const cents = intIn(1, MAX_PACKET_CENTS);
const LIST = `must be a non-empty array of integers in [1, ${MAX_PACKET_CENTS}]`;
const rule: z.ZodType<AmountRule> = z.discriminatedUnion(
  'kind',
  [
    z
      .object({ kind: z.literal('range'), min: cents, max: cents })
      .refine((r) => r.max >= r.min, { error: `must be an integer in [min, ${MAX_PACKET_CENTS}]`, path: ['max'] }),
    z.object({
      kind: z.literal('list'),
      values: z.array(cents, { error: LIST }).min(1, { error: LIST }),
    }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'must be "range" (with min, max) or "list" (with values)' : RULE_SHAPE) },
);

export const supplyBody = z.object({ total: intIn(1, MAX_U32), ratePerSecond: positive, rule });

export const campaignBody = z
  .object({
    count: intIn(1, MAX_U32),
    ratePerSecond: positive,
    recipientsPerPacket: intIn(1, MAX_SHARES),
    userFrom: intIn(0, MAX_USER),
    userTo: intIn(0, MAX_USER),
    rule,
    expiresInMs,
  })
  .refine((c) => c.userTo >= c.userFrom, { error: `must be an integer in [userFrom, ${MAX_USER}]`, path: ['userTo'] })
  .refine((c) => c.userTo - c.userFrom >= c.recipientsPerPacket, {
    error: 'the user range needs more users than recipientsPerPacket (the sender is not a recipient)',
  });

const RECIPIENTS = `must be an array of at most ${MAX_RECIPIENTS} user ids`;
const USER_ID = 'must be a user id (an integer in [0, 2^32 - 2])';
const coverText = or(z.string({ error: 'must be a string' }), '');
export const packetBody = z.object({
  sender: intIn(0, MAX_USER),
  totalCents: intIn(0, MAX_U32),
  shareCount: intIn(0, 0xffff),
  recipients: z
    .array(z.number({ error: USER_ID }).int({ error: USER_ID }).min(0, { error: USER_ID }).max(MAX_USER, { error: USER_ID }), { error: RECIPIENTS })
    .max(MAX_RECIPIENTS, { error: RECIPIENTS }),
  expiresInMs,
  splitMode: z.enum(['double-mean', 'line-segment'], { error: 'must be "double-mean" or "line-segment"' }).nullish(),
  /** its limits (bytes, colour range) are checked by the route: past them is 422 bad-cover */
  cover: z
    .object({ title: coverText, story: coverText, colour: or(z.number({ error: 'must be a number' }), 0) }, { error: 'must be {"title","colour","story"}' })
    .nullish(),
});

export type PacketBody = z.output<typeof packetBody>;

export const expireBody = z.object({
  packetIds: z.array(intIn(0, MAX_U32), { error: 'must be an array of packet ids' }).optional(),
});

/** The body as the schema's type, or a BadRequest naming the first field that does not fit. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.join('.');
  throw new BadRequest(field ? `${field} ${issue.message}` : issue.message);
}
