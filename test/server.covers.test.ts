// The covers an app thread answers Details with leave with their packets (docs/engine.md, eviction).
import test from 'ava';
import { CoverBook, coverEntries } from '../src/server/covers.ts';
import type { LedgerSnapshot } from '../src/ledger/types.ts';

const cover = (title: string) => ({ title, colour: 0xff0000, story: '' });

test('covers are dropped with the packets expiring at or before the eviction time, in any order of arrival', (t) => {
  const book = new CoverBook([[1, cover('a'), 3_000]]);
  book.set(2, cover('b'), 1_000);
  book.set(3, cover('c'), 2_000);
  book.set(2, cover('b2'), 1_000); // the same packet notified twice is one cover
  t.is(book.size, 3);
  book.evict(999);
  t.is(book.size, 3, 'nothing expires by 999');
  book.evict(2_000);
  t.deepEqual([book.get(1)?.title, book.get(2), book.get(3)], ['a', undefined, undefined], 'the two packets expiring by 2000 go; the later one stays');
  book.evict(2_000);
  t.is(book.size, 1, 'again: nothing more');
  book.replace([[7, cover('x'), 10]]);
  t.deepEqual([book.size, book.get(1), book.get(7)?.title], [1, undefined, 'x'], 'a rebuild replaces every cover');
  book.evict(10);
  t.is(book.size, 0);
});

test("covers read back from the ledger carry their packet's expiry", (t) => {
  const snapshot = {
    engine: {
      groups: [
        { id: 5, expiresAt: 1_234 },
        { id: 6, expiresAt: 99 },
      ],
    },
    covers: new Map([[5, cover('five')]]),
  } as unknown as LedgerSnapshot;
  t.deepEqual(coverEntries(snapshot), [[5, cover('five'), 1_234]]);
});
