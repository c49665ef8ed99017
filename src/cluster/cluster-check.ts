// `hongbao ledger check --cluster`: reconciles a cluster from Redis (the record of who got what) and
// every access node's journal (what each node told), item by item and in count and cents:
// - Redis alone: the supply's created = paid + leased + pooled; per group packet, its total =
//   opened + unopened + refunded, every share >= 1 cent, the opened shares those of the opened hash;
// - Redis against the journals: every hit, share, packet and refund in Redis is in exactly one
//   journal (as told, or as a doubt settled `paid`), with the same user and cents; nothing a journal
//   says it told is missing from Redis (that would be an acknowledged move lost); every doubt is
//   settled. The report has the shape of the single-server check, so that the rehearsal's
//   reconciliation with the clients' tallies works on it unchanged.
import type { Cluster } from 'ioredis';
import type { CountCents } from '../engine/types.ts';
import type { CheckReport, FlowCheck } from '../ledger/check.ts';
import { openDatabase } from '../ledger/schema.ts';
import type { LedgerItems } from '../report/ledger-items.ts';
import { parseHit } from './keys.ts';
import { ClusterStore } from './store.ts';

const MAX_DIFFERENCES = 50;
const cc = (count: number, cents: number): CountCents => ({ count, cents });
const add = (a: CountCents, count: number, cents: number) => {
  a.count += count;
  a.cents += cents;
};

function flow(created: CountCents, paid: CountCents, remaining: CountCents, refunded: CountCents): FlowCheck {
  const balanced = created.count === paid.count + remaining.count + refunded.count && created.cents === paid.cents + remaining.cents + refunded.cents;
  return { created, paid, remaining, refunded, balanced };
}

interface JournalRows {
  file: string;
  hits: Array<[number, number, number]>;
  shares: Array<[number, number, number]>;
  creates: Array<[number, number, number, number]>;
  refunds: Array<[number, number, number, number]>;
  doubts: Array<{ kind: string; packet_id: number; user: number; cents: number; outcome: string | null }>;
}

export function readJournal(file: string): JournalRows {
  const db = openDatabase(file, { readonly: true });
  try {
    const rows = <T>(sql: string) => db.prepare(sql).raw(true).all() as T[];
    return {
      file,
      hits: rows('SELECT packet_id, user, cents FROM hits'),
      shares: rows('SELECT packet_id, user, cents FROM shares'),
      creates: rows('SELECT packet_id, sender, total_cents, share_count FROM creates'),
      refunds: rows('SELECT packet_id, sender, cents, shares FROM refunds'),
      doubts: db.prepare('SELECT kind, packet_id, user, cents, outcome FROM doubts').all() as JournalRows['doubts'],
    };
  } finally {
    db.close();
  }
}

/** Every key matching `pattern` on every master. */
async function scanAll(cluster: Cluster, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const m of cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, found] = await m.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

/** What kind of difference: the first three break a promise whatever happened; `untold` (Redis
 *  paid it, no journal has it) and `unsettled` are what a node killed between Redis and its journal
 *  leaves behind, and count as differences only in an exact check (a run without crashes). */
export type Category = 'identity' | 'lost' | 'twice' | 'untold' | 'unsettled';

export interface ClusterCheck {
  /** `differences` holds every category (exact); `ok` is true only when there is none */
  report: CheckReport;
  byCategory: Record<Category, string[]>;
  /** what Redis paid, for the item-by-item reconciliation with the clients */
  items: LedgerItems;
  /** what the journals hold as told (or settled paid), for the told-versus-journal audits */
  journaled: { hits: Map<number, [number, number]>; shares: Map<string, number>; packets: Set<number> };
}

export async function checkCluster(redisUrls: string[], journalFiles: string[]): Promise<ClusterCheck> {
  const byCategory: Record<Category, string[]> = { identity: [], lost: [], twice: [], untold: [], unsettled: [] };
  const as = (c: Category, m: string) => {
    const list = byCategory[c];
    if (list.length < MAX_DIFFERENCES) list.push(m);
    else if (list.length === MAX_DIFFERENCES) list.push('… more differences not listed');
  };
  const diff = (m: string) => as('identity', m);
  const journals = journalFiles.map(readJournal);
  const store = await ClusterStore.connect(redisUrls);
  const cluster = store.cluster;
  try {
    // ---- the supply
    const cfg = await cluster.hgetall('{hb:s}:cfg');
    const hits = await cluster.hgetall('{hb:s}:hits');
    const pool = await cluster.lrange('{hb:s}:pool', 0, -1);
    const leaseKeys = await scanAll(cluster, '{hb:s}:lease:*');
    const shakeCreated = cc(Number(cfg.created ?? 0), Number(cfg.createdCents ?? 0));
    const shakePaid = cc(0, 0);
    const redisHits = new Map<number, { user: number; cents: number; node: string }>();
    for (const [id, v] of Object.entries(hits)) {
      const { user, cents, node } = parseHit(v);
      redisHits.set(Number(id), { user, cents, node });
      add(shakePaid, 1, cents);
    }
    if (shakePaid.count !== Number(cfg.paid ?? 0) || shakePaid.cents !== Number(cfg.paidCents ?? 0)) {
      diff(`supply: its counter says ${cfg.paid ?? 0} paid / ${cfg.paidCents ?? 0} cents, its hits add up to ${shakePaid.count} / ${shakePaid.cents}`);
    }
    const shakeLeft = cc(0, 0);
    for (const p of pool) add(shakeLeft, 1, Number(p.split(':')[1]));
    for (const k of leaseKeys) for (const c of Object.values(await cluster.hgetall(k))) add(shakeLeft, 1, Number(c));
    const shake = flow(shakeCreated, shakePaid, shakeLeft, cc(0, 0));
    if (!shake.balanced)
      diff(
        `supply: created ${shakeCreated.count} / ${shakeCreated.cents} cents != paid + leased + pooled (${shakePaid.count + shakeLeft.count} / ${shakePaid.cents + shakeLeft.cents})`,
      );

    // ---- group packets
    const metaKeys = (await scanAll(cluster, '{hb:g:*}:m:*')).sort((a, b) => Number(a.split(':').pop()) - Number(b.split(':').pop()));
    const gCreated = cc(0, 0);
    const gPaid = cc(0, 0);
    const gLeft = cc(0, 0);
    const gRefunded = cc(0, 0);
    const redisShares = new Map<string, number>();
    const redisPackets = new Map<number, { sender: number; total: number; count: number; refund: [number, number] | null }>();
    for (const key of metaKeys) {
      const tag = key.slice(0, key.indexOf('}') + 2);
      const id = Number(key.split(':').pop());
      const m = await cluster.hgetall(key);
      const opened = await cluster.hgetall(`${tag}o:${id}`);
      const unopened = (await cluster.lrange(`${tag}s:${id}`, 0, -1)).map(Number);
      const total = Number(m.total);
      const count = Number(m.count);
      const expired = m.expired === '1';
      add(gCreated, count, total);
      let openedCents = 0;
      for (const [user, c] of Object.entries(opened)) {
        const cents = Number(c);
        if (cents < 1) diff(`group packet ${id}: a share of ${cents} cents to user ${user}`);
        redisShares.set(`${id}:${user}`, cents);
        openedCents += cents;
      }
      add(gPaid, Object.keys(opened).length, openedCents);
      if (Object.keys(opened).length !== Number(m.opened) || openedCents !== Number(m.openedCents)) {
        diff(`group packet ${id}: ${Object.keys(opened).length} shares / ${openedCents} cents opened, its counters say ${m.opened} / ${m.openedCents}`);
      }
      const left = unopened.reduce((a, b) => a + b, 0);
      if (expired) {
        if (unopened.length > 0) diff(`group packet ${id}: expired with ${unopened.length} shares still unopened`);
        add(gRefunded, Number(m.refundedShares), Number(m.refunded));
        if (openedCents + Number(m.refunded) !== total || Object.keys(opened).length + Number(m.refundedShares) !== count) {
          diff(`group packet ${id}: opened ${openedCents} + refunded ${m.refunded} cents != its total ${total}`);
        }
      } else {
        add(gLeft, unopened.length, left);
        if (openedCents + left !== total || Object.keys(opened).length + unopened.length !== count) {
          diff(`group packet ${id}: opened ${openedCents} + unopened ${left} cents != its total ${total}`);
        }
      }
      redisPackets.set(id, { sender: Number(m.sender), total, count, refund: expired ? [Number(m.refunded), Number(m.refundedShares)] : null });
    }
    const group = flow(gCreated, gPaid, gLeft, gRefunded);

    // ---- the journals against Redis
    const paidDoubts = (kind: string) =>
      journals.flatMap((j) => j.doubts.filter((d) => d.kind === kind && d.outcome === 'paid').map((d) => ({ ...d, file: j.file })));
    for (const j of journals) {
      const open = j.doubts.filter((d) => d.outcome === null).length;
      if (open > 0) as('unsettled', `${j.file}: ${open} doubt(s) never settled`);
    }
    // hits: each once, in one journal
    const told = new Map<number, string[]>();
    for (const j of journals) {
      for (const [id, user, cents] of j.hits) {
        told.set(id, [...(told.get(id) ?? []), j.file]);
        const r = redisHits.get(id);
        if (!r) as('lost', `shake packet ${id}: ${j.file} told user ${user} ${cents} cents, Redis has no such hit (an acknowledged hit lost)`);
        else if (r.user !== user || r.cents !== cents)
          as('twice', `shake packet ${id}: ${j.file} told user ${user} ${cents} cents, Redis paid user ${r.user} ${r.cents}`);
      }
    }
    for (const d of paidDoubts('hit')) told.set(d.packet_id, [...(told.get(d.packet_id) ?? []), `${d.file} (settled doubt)`]);
    for (const [id, r] of redisHits) {
      const where = told.get(id) ?? [];
      if (where.length === 0) as('untold', `shake packet ${id}: Redis paid user ${r.user} ${r.cents} cents (node ${r.node}); no journal has it`);
      else if (where.length > 1) as('twice', `shake packet ${id}: in ${where.length} journals (${where.join(', ')})`);
    }
    // shares: the same cents wherever a node told it (a repeat may be told on another node)
    const toldShares = new Map<string, number>();
    for (const j of journals) {
      for (const [id, user, cents] of j.shares) {
        const key = `${id}:${user}`;
        const r = redisShares.get(key);
        if (r === undefined)
          as('lost', `group packet ${id}: ${j.file} told user ${user} a share of ${cents} cents Redis never paid (an acknowledged open lost)`);
        else if (r !== cents) as('twice', `group packet ${id}: ${j.file} told user ${user} ${cents} cents, Redis paid ${r}`);
        toldShares.set(key, cents);
      }
    }
    for (const d of paidDoubts('share')) toldShares.set(`${d.packet_id}:${d.user}`, d.cents);
    for (const [key, cents] of redisShares) if (!toldShares.has(key)) as('untold', `group share ${key}: Redis paid ${cents} cents; no journal has it`);
    // packets and refunds: each in exactly one journal
    const made = new Map<number, number>();
    for (const j of journals) {
      for (const [id, sender, total] of j.creates) {
        made.set(id, (made.get(id) ?? 0) + 1);
        const r = redisPackets.get(id);
        if (!r) as('lost', `group packet ${id}: ${j.file} created it, Redis has no such packet`);
        else if (r.sender !== sender || r.total !== total)
          as('twice', `group packet ${id}: ${j.file} created it for ${sender} with ${total} cents, Redis has ${r.sender} / ${r.total}`);
      }
    }
    for (const d of paidDoubts('create')) made.set(d.packet_id, (made.get(d.packet_id) ?? 0) + 1);
    for (const id of redisPackets.keys()) {
      const n = made.get(id) ?? 0;
      if (n === 0) as('untold', `group packet ${id}: in Redis, in no journal's creates`);
      else if (n > 1) as('twice', `group packet ${id}: in ${n} journals' creates`);
    }
    const refunded = new Map<number, [number, number]>();
    for (const j of journals) {
      for (const [id, , cents, shares] of j.refunds) {
        if (refunded.has(id)) as('twice', `group packet ${id}: refunded in two journals`);
        refunded.set(id, [cents, shares]);
      }
    }
    for (const [id, p] of redisPackets) {
      const j = refunded.get(id);
      if (p.refund === null && j) as('lost', `group packet ${id}: a journal refunded it, Redis has it unexpired`);
      if (p.refund !== null && !j) as('untold', `group packet ${id}: Redis refunded ${p.refund[0]} cents; no journal has it`);
      if (p.refund !== null && j && (j[0] !== p.refund[0] || j[1] !== p.refund[1]))
        as('twice', `group packet ${id}: journal refund ${j[0]} cents, Redis ${p.refund[0]}`);
    }

    const differences = Object.values(byCategory).flat();
    const report: CheckReport = {
      db: `redis ${redisUrls[0]} + ${journals.length} journal(s)`,
      ok: differences.length === 0 && shake.balanced && group.balanced,
      shake,
      group,
      groupPackets: redisPackets.size,
      supplies: cfg.startedAt ? 1 : 0,
      differences,
    };
    const items: LedgerItems = {
      hits: [...redisHits].map(([id, h]) => [id, h.user, h.cents] as [number, number, number]).sort((a, b) => a[0] - b[0]),
      shares: [...redisShares].map(([key, cents]) => {
        const [id, user] = key.split(':').map(Number);
        return [id, user, cents] as [number, number, number];
      }),
      packets: [...redisPackets].map(([id, p]) => [id, p.total, p.count] as [number, number, number]).sort((a, b) => a[0] - b[0]),
      paidAfterUnavailable: {
        hits: paidDoubts('hit').map((d) => [d.packet_id, d.user, d.cents] as [number, number, number]),
        shares: paidDoubts('share').map((d) => [d.packet_id, d.user, d.cents] as [number, number, number]),
      },
    };
    const journaled = {
      hits: new Map(journals.flatMap((j) => j.hits.map(([id, u, c]) => [id, [u, c]] as [number, [number, number]]))),
      shares: toldShares,
      packets: new Set(made.keys()),
    };
    for (const d of paidDoubts('hit')) journaled.hits.set(d.packet_id, [d.user, d.cents]);
    return { report, byCategory, items, journaled };
  } finally {
    await store.close();
  }
}
