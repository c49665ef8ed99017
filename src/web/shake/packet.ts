// Group packets on the shake page: the inbox of packets addressed to the user (PacketNotify), the
// red envelope with its 開 (open) coin, and the details view (cover, every share, best luck).
import { encodeDetails, encodeOpen, type DetailsBody, type ServerFrame } from '../../protocol/codec.ts';
import { DetailsStatus, ServerType } from '../../protocol/codes.ts';
import { OpenStatus } from '../../engine/types.ts';
import type { HongbaoClient, Notify } from './client.ts';
import { errorCodeText, formatCents, openStatusText } from './words.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const DEFAULT_TITLE = '恭喜发财，大吉大利';
const DEFAULT_COLOUR = 0xc8102e;

interface InboxItem {
  notify: Notify;
  li: HTMLLIElement;
  opened: number | null;
}

/** Text colour readable on a cover colour (WCAG relative luminance, threshold near the middle). */
export function inkFor(colour: number): string {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * lin((colour >> 16) & 255) + 0.7152 * lin((colour >> 8) & 255) + 0.0722 * lin(colour & 255);
  return l > 0.18 ? '#1f0a0a' : '#fff8e7';
}

const hex = (colour: number) => `#${colour.toString(16).padStart(6, '0')}`;

export class Packets {
  private readonly inbox = new Map<number, InboxItem>();
  private readonly dialog = $<HTMLDialogElement>('packet');
  private current = 0; // packet id shown in the dialog

  constructor(private readonly client: HongbaoClient) {
    $('open-button').onclick = () => void this.open(this.current);
  }

  /** A PacketNotify arrived: put it at the top of the inbox. */
  add(notify: Notify): void {
    if (this.inbox.has(notify.packetId)) return;
    const li = document.createElement('li');
    li.dataset.packetId = String(notify.packetId);
    const item: InboxItem = { notify, li, opened: null };
    this.inbox.set(notify.packetId, item);
    this.renderItem(item);
    $('inbox').prepend(li);
    $('inbox-empty').hidden = true;
    navigator.vibrate?.(60);
  }

  private renderItem(item: InboxItem): void {
    const n = item.notify;
    const text = document.createElement('span');
    text.className = 'what';
    text.append(`From user ${n.sender} · ${n.shareCount} ${n.shareCount === 1 ? 'share' : 'shares'} of ${formatCents(n.totalCents)}`);
    if (item.opened !== null) {
      const got = document.createElement('strong');
      got.textContent = ` · you got ${formatCents(item.opened)}`;
      text.append(got);
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.className = item.opened === null ? 'primary small' : 'small';
    button.textContent = item.opened === null ? 'Open' : 'Details';
    button.setAttribute('aria-label', `${button.textContent} packet ${n.packetId} from user ${n.sender}`);
    button.onclick = () => void this.show(n.packetId, item.opened === null ? 'envelope' : 'details');
    item.li.replaceChildren(text, button);
  }

  /** Show the dialog for a packet: as an unopened envelope, or straight to its details. */
  async show(packetId: number, mode: 'envelope' | 'details'): Promise<boolean> {
    this.current = packetId;
    const notify = this.inbox.get(packetId)?.notify;
    $('packet-from').textContent = notify ? `From user ${notify.sender}` : `Packet #${packetId}`;
    $('packet-title').textContent = DEFAULT_TITLE;
    $('packet-story').textContent = '';
    $('open-result').textContent = '';
    this.paintCover(DEFAULT_COLOUR);
    $('open-button').hidden = mode !== 'envelope';
    $('envelope').classList.remove('opened');
    $('details').hidden = true;
    if (!this.dialog.open) this.dialog.showModal();
    const details = await this.fetchDetails(packetId);
    if (!details) return false;
    if (mode === 'details' || details.opened.some((s) => s.user === this.client.userId)) this.renderDetails(details);
    return true;
  }

  private async open(packetId: number): Promise<void> {
    const coin = $<HTMLButtonElement>('open-button');
    coin.disabled = true;
    coin.classList.add('spin');
    try {
      const frame = await this.client.request((id) => encodeOpen(id, packetId));
      if (frame.type === ServerType.OpenResult) {
        $('open-result').textContent = openStatusText(frame.status, frame.cents);
        const item = this.inbox.get(packetId);
        if (item && (frame.status === OpenStatus.Ok || frame.status === OpenStatus.Repeat)) {
          item.opened = frame.cents;
          this.renderItem(item);
        }
        const details = await this.fetchDetails(packetId);
        if (details) this.renderDetails(details);
      } else {
        $('open-result').textContent = frameError(frame);
      }
    } catch (err) {
      $('open-result').textContent = (err as Error).message;
    } finally {
      coin.classList.remove('spin');
      coin.disabled = false;
    }
  }

  private async fetchDetails(packetId: number): Promise<DetailsBody | null> {
    try {
      const frame = await this.client.request((id) => encodeDetails(id, packetId));
      if (frame.type === ServerType.DetailsResult && frame.status === DetailsStatus.Found && frame.details) {
        this.paintCoverFrom(frame.details);
        return frame.details;
      }
      $('open-result').textContent = frame.type === ServerType.DetailsResult ? openStatusText(OpenStatus.UnknownPacket, 0) : frameError(frame);
    } catch (err) {
      $('open-result').textContent = (err as Error).message;
    }
    return null;
  }

  private paintCover(colour: number): void {
    const env = $('envelope');
    env.style.setProperty('--cover', hex(colour));
    env.style.setProperty('--ink', inkFor(colour));
  }

  private paintCoverFrom(d: DetailsBody): void {
    const hasCover = d.cover.title !== '' || d.cover.story !== '' || d.cover.colour !== 0;
    this.paintCover(hasCover ? d.cover.colour : DEFAULT_COLOUR);
    $('packet-title').textContent = d.cover.title || DEFAULT_TITLE;
    $('packet-story').textContent = d.cover.story;
    $('packet-from').textContent = `From user ${d.sender}`;
  }

  private renderDetails(d: DetailsBody): void {
    $('open-button').hidden = true;
    $('envelope').classList.add('opened');
    const opened = d.opened.length;
    const parts = [`${formatCents(d.totalCents)} in ${d.shareCount} ${d.shareCount === 1 ? 'share' : 'shares'}: ${opened} opened`];
    if (d.expired) parts.push(`expired, ${formatCents(d.refundedCents)} went back to the sender`);
    else if (d.remainingShares > 0) parts.push(`${formatCents(d.remainingCents)} left in ${d.remainingShares} ${d.remainingShares === 1 ? 'share' : 'shares'}`);
    else parts.push('all taken');
    $('details-summary').textContent = `${parts.join(' · ')}.`;
    const rows = d.opened.map((s, i) => {
      const tr = document.createElement('tr');
      if (s.user === this.client.userId) tr.className = 'me';
      const order = document.createElement('td');
      order.textContent = String(i + 1);
      const user = document.createElement('td');
      user.textContent = s.user === this.client.userId ? `${s.user} (you)` : String(s.user);
      const cents = document.createElement('td');
      cents.className = 'num';
      cents.textContent = formatCents(s.cents);
      if (d.bestLuck === s.user) {
        const badge = document.createElement('span');
        badge.className = 'best';
        badge.textContent = 'Best luck 手气最佳';
        user.append(' ', badge);
      }
      tr.append(order, user, cents);
      return tr;
    });
    $('shares').replaceChildren(...rows);
    $('details').hidden = false;
  }
}

export function frameError(frame: ServerFrame): string {
  return frame.type === ServerType.Error ? errorCodeText(frame.code) : 'The server answered something unexpected.';
}
