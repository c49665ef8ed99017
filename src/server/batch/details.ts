// Details requests of a turn, answered once every earlier commit is durable (a barrier), with one
// engine lookup per packet per batch: a popular packet asked for by many costs one call (and, in
// Session, one encoding), not one per request. A 1000-share packet's details are ~8 KB to build.
import type { Engine, PacketDetails } from '../../engine/types.ts';
import type { Cover } from '../../protocol/codec.ts';
import { CommonStatus, DetailsStatus } from '../../protocol/codes.ts';
import type { Replier } from '../replier.ts';
import { type AfterBarrier, isThenable } from './lane.ts';

export interface DetailsRequest {
  target: Replier;
  requestId: number;
  packetId: number;
}

/** engine.details threw for a packet: every request for it in the batch is answered Unavailable. */
class EngineFailure {
  constructor(readonly cause: unknown) {}
}

export class DetailsAnswers implements AfterBarrier {
  constructor(
    private readonly requests: DetailsRequest[],
    private readonly engine: Engine,
    private readonly covers: { get(packetId: number): Cover | undefined },
    private readonly engineFailed: (what: string, err: unknown) => void,
  ) {}

  get size(): number {
    return this.requests.length;
  }

  answer(ok: boolean): void {
    const found = new Map<number, PacketDetails | null | PromiseLike<PacketDetails | null> | EngineFailure>();
    for (const { target, requestId, packetId } of this.requests) {
      if (!ok) {
        target.detailsResult(requestId, CommonStatus.Unavailable, null, null);
        continue;
      }
      let r = found.get(packetId);
      if (r === undefined) {
        try {
          r = this.engine.details(packetId);
        } catch (err) {
          r = new EngineFailure(err);
        }
        found.set(packetId, r);
      }
      const reply = (d: PacketDetails | null) => {
        if (d === null) target.detailsResult(requestId, DetailsStatus.UnknownPacket, null, null);
        else target.detailsResult(requestId, DetailsStatus.Found, d, this.covers.get(packetId) ?? d.cover ?? null);
      };
      const fail = (err: unknown) => {
        this.engineFailed('details', err);
        target.detailsResult(requestId, CommonStatus.Unavailable, null, null);
      };
      if (r instanceof EngineFailure) fail(r.cause);
      else if (isThenable(r))
        Promise.resolve(r)
          .then(reply, fail)
          .catch((err) => this.engineFailed('details (answering)', err));
      else reply(r);
    }
  }
}
