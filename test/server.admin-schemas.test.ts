// The admin API's POST bodies (src/server/admin-schemas.ts): what fits comes out typed with its
// defaults, what does not is a BadRequest (400) whose message names the field.
import test from 'ava';
import { campaignBody, expireBody, packetBody, parseBody, supplyBody } from '../src/server/admin-schemas.ts';
import { BadRequest } from '../src/server/http-util.ts';

const range = { kind: 'range', min: 1, max: 5 };

test('bodies that fit come out with their defaults', (t) => {
  t.deepEqual(
    parseBody(supplyBody, { total: 10, ratePerSecond: 2.5, rule: range, extra: 1 }),
    { total: 10, ratePerSecond: 2.5, rule: range },
    'unknown keys dropped',
  );
  t.is(
    parseBody(campaignBody, { count: 1, ratePerSecond: 1, recipientsPerPacket: 3, userFrom: 1, userTo: 9, rule: range }).expiresInMs,
    86_400_000,
    'a day by default',
  );
  t.deepEqual(
    parseBody(packetBody, { sender: 1, totalCents: 100, shareCount: 2, recipients: [1, 2], expiresInMs: null, cover: { title: 't' } }),
    { sender: 1, totalCents: 100, shareCount: 2, recipients: [1, 2], expiresInMs: 86_400_000, cover: { title: 't', story: '', colour: 0 } },
    'null or absent fields take their defaults',
  );
  t.deepEqual(parseBody(expireBody, {}), {}, 'packetIds are optional');
});

test('a body that does not fit is a BadRequest naming the field', (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['total 0', () => parseBody(supplyBody, { total: 0, ratePerSecond: 2, rule: range }), /^total must be an integer in \[1, 4294967295\]$/],
    ['no rule', () => parseBody(supplyBody, { total: 1, ratePerSecond: 2 }), /^rule must be \{"kind":"range"/],
    ['a bad kind', () => parseBody(supplyBody, { total: 1, ratePerSecond: 2, rule: { kind: 'x' } }), /^rule.kind must be "range"/],
    [
      'max below min',
      () => parseBody(supplyBody, { total: 1, ratePerSecond: 2, rule: { kind: 'range', min: 5, max: 1 } }),
      /^rule.max must be an integer in \[min,/,
    ],
    [
      'an empty list',
      () => parseBody(supplyBody, { total: 1, ratePerSecond: 2, rule: { kind: 'list', values: [] } }),
      /^rule.values must be a non-empty array/,
    ],
    ['a rate of 0', () => parseBody(supplyBody, { total: 1, ratePerSecond: 0, rule: range }), /^ratePerSecond must be a positive number$/],
    [
      'too few users',
      () => parseBody(campaignBody, { count: 1, ratePerSecond: 1, recipientsPerPacket: 3, userFrom: 1, userTo: 3, rule: range }),
      /the user range needs more users than recipientsPerPacket/,
    ],
    ['a negative recipient', () => parseBody(packetBody, { sender: 1, totalCents: 1, shareCount: 1, recipients: [1, -2] }), /^recipients.1 must be a user id/],
    [
      'a split mode',
      () => parseBody(packetBody, { sender: 1, totalCents: 1, shareCount: 1, recipients: [], splitMode: 'fair' }),
      /^splitMode must be "double-mean"/,
    ],
    [
      'a cover title',
      () => parseBody(packetBody, { sender: 1, totalCents: 1, shareCount: 1, recipients: [], cover: { title: 3 } }),
      /^cover.title must be a string$/,
    ],
    ['a packet id', () => parseBody(expireBody, { packetIds: [1, 'a'] }), /^packetIds.1 must be an integer/],
  ];
  for (const [name, parse, message] of cases) t.throws(parse, { instanceOf: BadRequest, message }, name);
});
