// A scripted stand-in for `hongbao server` and `hongbao monitor`, for the page tests that check
// what the pages show (every status sentence, the red reconciliation state) without the real
// services: node:http + ws, the real codec and the real static and feed helpers. It follows the
// protocol's shapes, not the engine's rules: the tests that need real money use the real server.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  decodeClientFrame,
  encodeCreateResult,
  encodeDetailsResult,
  encodeError,
  encodeLoginOk,
  encodePacketNotify,
  encodeResult,
  FrameError,
  type DetailsBody,
} from '../../src/protocol/codec.ts';
import { ClientType, CloseCode, ServerType } from '../../src/protocol/codes.ts';
import { loadWebPage, serveStaticNode } from '../../src/web/static.ts';
import { DashboardFeed } from '../../src/web/feed.ts';

export interface FakePacket {
  details: DetailsBody;
  recipients: number[];
}

export interface FakeServer {
  url: string;
  /** The next shake answers: 'miss', or a hit of so many cents; when empty, shakes miss. */
  shakes: Array<'miss' | number>;
  /** The status the next create answers (then Ok again). */
  nextCreateStatus: number | null;
  packets: Map<number, FakePacket>;
  /** Push a packet to a signed-in user, as the real server does after a create. */
  notify(userId: number, packet: FakePacket): void;
  feed: DashboardFeed;
  close(): Promise<void>;
}

/** Tokens the fake accepts: `ok-<userId>`; `expired` closes with TokenExpired; anything else AuthFailed. */
export async function startFakeServer(): Promise<FakeServer> {
  const [shake, dashboard] = await Promise.all([loadWebPage('shake'), loadWebPage('dashboard')]);
  const feed = new DashboardFeed({ graceMs: 300 });
  const users = new Map<number, WebSocket>();
  let nextPacket = 100;
  // The shake page at `/`, as the server serves it; the dashboard and its feed under /dashboard/.
  const http: Server = createServer((req, res) => {
    if (req.url?.startsWith('/dashboard/')) {
      req.url = req.url.slice('/dashboard'.length);
      if (feed.handleNode(req, res) || serveStaticNode(dashboard, req, res)) return;
    } else if (serveStaticNode(shake, req, res)) return;
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  const fake: FakeServer = {
    url: '',
    shakes: [],
    nextCreateStatus: null,
    packets: new Map(),
    feed,
    notify(userId, packet) {
      this.packets.set(packet.details.id, packet);
      const d = packet.details;
      users.get(userId)?.send(encodePacketNotify(d.id, d.sender, d.shareCount, d.totalCents, d.expiresAt));
    },
    async close() {
      feed.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      http.closeAllConnections();
      http.close();
      await once(http, 'close');
    },
  };
  wss.on('connection', (ws) => {
    let user: number | null = null;
    ws.on('message', (data: Buffer) => {
      const f = decodeClientFrame(new Uint8Array(data));
      if (f instanceof FrameError) return void ws.send(encodeError(f.requestId, f.code, f.offendingType));
      if (f.type === ClientType.Login) {
        if (f.token === 'expired') return void ws.close(CloseCode.TokenExpired);
        if (f.token !== `ok-${f.userId}`) return void ws.close(CloseCode.AuthFailed);
        user = f.userId;
        users.set(user, ws);
        return void ws.send(encodeLoginOk(f.requestId, user, Date.now()));
      }
      if (user === null) return void ws.send(encodeError(f.requestId, 4, f.type));
      switch (f.type) {
        case ClientType.Shake: {
          const next = fake.shakes.shift() ?? 'miss';
          ws.send(encodeResult(ServerType.ShakeResult, f.requestId, next === 'miss' ? 0 : 1, next === 'miss' ? 0 : 7, next === 'miss' ? 0 : next));
          break;
        }
        case ClientType.Create: {
          const status = fake.nextCreateStatus ?? 0;
          fake.nextCreateStatus = null;
          if (status !== 0) return void ws.send(encodeCreateResult(f.requestId, status, 0));
          const id = nextPacket++;
          const packet: FakePacket = {
            recipients: f.recipients,
            details: {
              id,
              sender: user,
              totalCents: f.totalCents,
              shareCount: f.shareCount,
              splitMode: f.splitMode,
              expired: false,
              remainingCents: f.totalCents,
              remainingShares: f.shareCount,
              refundedCents: 0,
              expiresAt: Date.now() + 86_400_000,
              bestLuck: null,
              cover: f.cover,
              opened: [],
            },
          };
          ws.send(encodeCreateResult(f.requestId, 0, id));
          for (const r of f.recipients) fake.notify(r, packet);
          break;
        }
        case ClientType.Open: {
          const p = fake.packets.get(f.packetId);
          if (!p) return void ws.send(encodeResult(ServerType.OpenResult, f.requestId, 5, f.packetId, 0));
          const d = p.details;
          const mine = d.opened.find((s) => s.user === user);
          if (mine) return void ws.send(encodeResult(ServerType.OpenResult, f.requestId, 1, d.id, mine.cents));
          if (!p.recipients.includes(user)) return void ws.send(encodeResult(ServerType.OpenResult, f.requestId, 2, d.id, 0));
          if (d.remainingShares === 0) return void ws.send(encodeResult(ServerType.OpenResult, f.requestId, 3, d.id, 0));
          // Not the engine's split: an even share, the last takes the rest (enough for a page test).
          const cents = d.remainingShares === 1 ? d.remainingCents : Math.floor(d.totalCents / d.shareCount);
          d.opened.push({ user, cents });
          d.remainingCents -= cents;
          d.remainingShares--;
          d.bestLuck = d.opened.reduce((best, s) => (s.cents > best.cents ? s : best)).user;
          ws.send(encodeResult(ServerType.OpenResult, f.requestId, 0, d.id, cents));
          break;
        }
        case ClientType.Details: {
          const p = fake.packets.get(f.packetId);
          ws.send(encodeDetailsResult(f.requestId, p ? 0 : 5, p ? p.details : null));
          break;
        }
      }
    });
    ws.on('close', () => {
      if (user !== null && users.get(user) === ws) users.delete(user);
    });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  fake.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return fake;
}
