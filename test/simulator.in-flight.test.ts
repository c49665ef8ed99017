import test from 'ava';
import { InFlight, Kind } from '../src/simulator/in-flight.ts';

test('an answer settles its request once and gives its intended send time', (t) => {
  const f = new InFlight(2);
  const id = f.take(Kind.Shake, 0, 1234.5, () => t.fail('nothing lost'));
  t.is(f.count, 1, 'one outstanding');
  t.is(f.settle(id, Kind.Open), -1, 'an answer of another kind does not match');
  t.is(f.settle(id, Kind.Shake), 1234.5, 'the intended time comes back');
  t.is(f.settle(id, Kind.Shake), -1, 'a second answer does not match');
  t.is(f.count, 0, 'nothing outstanding');
});

test('a closed connection writes off its requests once; late answers never match', (t) => {
  const f = new InFlight(2);
  const a = f.take(Kind.Shake, 0, 1, () => {});
  f.take(Kind.Open, 0, 2, () => {});
  const c = f.take(Kind.Shake, 1, 3, () => {});
  t.is(f.writeOff(0), 2, 'two lost with connection 0');
  t.is(f.count, 1, 'connection 1 still has one');
  t.is(f.settle(a, Kind.Shake), -1, 'a late answer on the old connection does not match');
  t.is(f.writeOff(0), 0, 'written off only once');
  t.is(f.settle(c, Kind.Shake), 3, 'the other connection is untouched');
});

test('a request unanswered for 2^20 requests is counted lost when its place is reused', (t) => {
  const f = new InFlight(1);
  let lost = 0;
  const first = f.take(Kind.Shake, 0, 1, () => lost++);
  for (let i = 1; i < 1 << 20; i++)
    f.settle(
      f.take(Kind.Shake, 0, 1, () => lost++),
      Kind.Shake,
    );
  t.is(lost, 0, 'nothing lost yet');
  f.take(Kind.Shake, 0, 1, () => lost++);
  t.is(lost, 1, 'the first request is lost now');
  t.is(f.settle(first, Kind.Shake), -1, 'and can no longer match');
  t.is(f.count, 1, 'only the newest is outstanding');
});
