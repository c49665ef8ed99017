// The shake page's plain words: money in integer cents, recipients, and a sentence for every status.
import test from 'ava';
import { CloseCode, CommonStatus, CreateExtraStatus, ErrorCode } from '../src/protocol/codes.ts';
import { CreateStatus, OpenStatus } from '../src/engine/types.ts';
import { closeCodeText, createStatusText, errorCodeText, formatCents, openStatusText, parseRecipients, parseYuan } from '../src/web/shake/words.ts';

test('cents are formatted as yuan with two decimals', (t) => {
  t.is(formatCents(0), '¥0.00', 'zero');
  t.is(formatCents(7), '¥0.07', 'one digit of cents');
  t.is(formatCents(1234), '¥12.34', 'yuan and cents');
  t.is(formatCents(100_000_000), '¥1,000,000.00', 'thousands separated');
  t.is(formatCents(-250), '-¥2.50', 'negative differences keep their sign');
});

test('yuan text is parsed to cents without floating point', (t) => {
  t.is(parseYuan('10'), 1000, 'whole yuan');
  t.is(parseYuan('8.8'), 880, 'one decimal');
  t.is(parseYuan('0.29'), 29, '0.29 is exactly 29 cents (0.29 * 100 is not, in floats)');
  t.is(parseYuan(' ¥1,000.05 '), 100005, 'symbol, separators and spaces');
  t.is(parseYuan('1.234'), null, 'more than two decimals is refused, not rounded');
  t.is(parseYuan('-1'), null, 'negative');
  t.is(parseYuan('ten'), null, 'words');
  t.is(parseYuan(''), null, 'empty');
});

test('recipients are user ids separated by commas, spaces or semicolons', (t) => {
  t.deepEqual(parseRecipients('2, 3 4;5，6'), [2, 3, 4, 5, 6], 'mixed separators, including the full-width comma');
  t.is(typeof parseRecipients(''), 'string', 'none gives a sentence');
  t.regex(parseRecipients('2, bob') as string, /"bob" is not a user id/, 'names the bad word');
  t.is(typeof parseRecipients('4294967295'), 'string', 'NO_USER (0xffffffff) is not a user id');
});

test('every create status has its own sentence', (t) => {
  const statuses = [...Object.values(CreateStatus), CreateExtraStatus.BadCover, ...Object.values(CommonStatus)];
  const sentences = statuses.map(createStatusText);
  t.is(new Set(sentences).size, statuses.length, 'no two statuses share a sentence');
  t.regex(createStatusText(CreateStatus.TotalBelowShares), /at least 1 cent per share/, 'explains the one-cent rule');
  t.regex(createStatusText(CreateStatus.BadTotal), /¥1,000,000\.00/, 'names the largest total');
  t.regex(createStatusText(CreateExtraStatus.BadCover), /40 bytes.*280 bytes/, 'gives the cover limits');
  t.regex(createStatusText(0x3f), /status 63/, 'an unknown status still says something');
});

test('every open status, error code and close code has a sentence', (t) => {
  t.is(openStatusText(OpenStatus.Ok, 333), 'You got ¥3.33!', 'a new share');
  t.regex(openStatusText(OpenStatus.Repeat, 333), /already opened.*¥3\.33/, 'the same share again');
  const open = Object.values(OpenStatus).map((s) => openStatusText(s, 1));
  t.is(new Set(open).size, open.length, 'distinct open sentences');
  const errors = Object.values(ErrorCode).map(errorCodeText);
  t.is(new Set(errors).size, errors.length, 'distinct error sentences');
  const closes = Object.values(CloseCode).map((c) => closeCodeText(c));
  t.is(new Set(closes).size, closes.length, 'distinct close sentences');
  t.regex(closeCodeText(CloseCode.TokenExpired), /expired/, 'expired token');
  t.regex(closeCodeText(CloseCode.AuthFailed), /not valid for this user id/, 'forged token');
});
