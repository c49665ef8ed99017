// The admin campaign keeps its rate while its creates are slow (a cluster node's are several Redis
// round trips each): up to MAX_STEPS_IN_FLIGHT steps wait on their creates at once, never more, and
// never more packets are asked for than the campaign's count; a create in doubt holds its place in
// the count until it is settled. The group moves are a stand-in whose creates answer only when (and
// how) the test lets them.
import test from 'ava';
import { Campaign, type CampaignOptions } from '../src/server/campaign.ts';
import type { GroupMoves, PacketSpec } from '../src/server/groups.ts';
import { CommonStatus } from '../src/protocol/codes.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 200 packets a second of 300 cents to 3 of users 1..100. */
const optionsFor = (count: number): CampaignOptions => ({
  count,
  ratePerSecond: 200,
  recipientsPerPacket: 3,
  userFrom: 1,
  userTo: 100,
  rule: { kind: 'list', values: [300] },
  expiresInMs: 60_000,
});

function slowGroups() {
  const waiting: Array<() => void> = [];
  const seen = { asked: 0, inFlight: 0, maxInFlight: 0, badRecipients: 0 };
  const groups = {
    create: (specs: PacketSpec[]) =>
      new Promise<Array<{ status: number; packetId: number }>>((resolve) => {
        const first = seen.asked + 1;
        seen.asked += specs.length;
        seen.inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        for (const s of specs) if (new Set(s.recipients).size !== 3 || s.recipients.includes(s.sender)) seen.badRecipients++;
        waiting.push(() => {
          seen.inFlight--;
          resolve(specs.map((_, i) => ({ status: 0, packetId: first + i })));
        });
      }),
  };
  return { groups: groups as unknown as GroupMoves, waiting, seen };
}

test('slow creates: four steps wait at once, no fifth; the count is never exceeded, and every packet is made once they answer', async (t) => {
  const { groups, waiting, seen } = slowGroups();
  const campaign = new Campaign(groups, 7, (m) => t.log(m));
  campaign.start(optionsFor(60));
  try {
    await sleep(600); // ~30 steps' time: without answers only four get in
    t.is(waiting.length, 4, 'four steps wait on their creates');
    for (let rounds = 0; campaign.current()?.active && rounds < 500; rounds++) {
      t.true(seen.asked <= 60, `never more packets asked for than the count (${seen.asked})`);
      for (const answer of waiting.splice(0)) answer();
      await sleep(30);
    }
    t.is(seen.maxInFlight, 4, 'never more than four steps at once');
    t.is(campaign.current()?.created, 60, 'every packet made');
    t.is(seen.asked, 60, 'each asked for once');
    t.is(seen.badRecipients, 0, 'three recipients each, none the sender');
  } finally {
    campaign.stop();
  }
});

test('creates in doubt hold their place in the count until settled: those made count, those void are made again', async (t) => {
  const asked: number[] = [];
  let nextId = 1;
  const groups = {
    // every create of the first 20 packets is in doubt (Unavailable, with the id Redis may have used)
    create: async (specs: PacketSpec[]) =>
      specs.map(() => {
        const packetId = nextId++;
        asked.push(packetId);
        return packetId <= 20 ? { status: CommonStatus.Unavailable, packetId } : { status: 0, packetId };
      }),
  };
  const campaign = new Campaign(groups as unknown as GroupMoves, 7, (m) => t.log(m));
  campaign.start(optionsFor(30));
  try {
    await sleep(400);
    t.like(campaign.current(), { created: 10, inDoubt: 20, active: true }, 'ten made, twenty in doubt, and no more asked for');
    t.is(asked.length, 30, 'the doubtful are not asked for again while in doubt');
    const made = Array.from({ length: 10 }, (_, i) => i + 1);
    const voided = Array.from({ length: 10 }, (_, i) => i + 11);
    campaign.settled([...made, 999], voided); // 999: not this campaign's (another's, or one from before it started)
    for (let waited = 0; campaign.current()?.active && waited < 2000; waited += 20) await sleep(20);
    t.like(campaign.current(), { created: 30, refused: 10, inDoubt: 0, active: false }, 'the void ones were made again, and the campaign ends at its count');
    t.is(asked.length, 40, 'ten made again, in place of the void ones');
  } finally {
    campaign.stop();
  }
});
