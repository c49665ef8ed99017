// The shake page (served by `hongbao server` at `/`): sign in with a user id and token, shake for a
// packet (button, or the phone's motion sensor where there is one), open group packets as they
// arrive, send one, look one up. Speaks the binary protocol over a WebSocket to the same origin.
import { encodeCreate, encodeDetails, encodeShake, type ServerFrame } from '../../protocol/codec.ts';
import { DetailsStatus, MAX_STORY_BYTES, MAX_TITLE_BYTES, ServerType, ShakeResultStatus } from '../../protocol/codes.ts';
import { CreateStatus } from '../../engine/types.ts';
import { HongbaoClient } from './client.ts';
import { frameError, Packets } from './packet.ts';
import { commonStatusText, createStatusText, formatCents, parseRecipients, parseYuan, utf8Length } from './words.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)').matches;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Session {
  client: HongbaoClient;
  packets: Packets;
  wonCents: number;
  wonCount: number;
  shaking: boolean;
}
let session: Session | null = null;

// ---- sign in / out -------------------------------------------------------------------------------

/** `#user=<id>&token=<token>` (the link the rehearsal and `hongbao cluster up` print) signs in at once. */
function signInFromHash(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const user = params.get('user');
  const token = params.get('token');
  if (user) $<HTMLInputElement>('user-id').value = user;
  if (token) $<HTMLInputElement>('token').value = token;
  if (user && token) $<HTMLFormElement>('signin-form').requestSubmit();
}

async function signIn(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const error = $('signin-error');
  const userText = $<HTMLInputElement>('user-id').value.trim();
  const token = $<HTMLInputElement>('token').value.trim();
  if (!/^\d{1,10}$/.test(userText) || Number(userText) > 0xfffffffe) {
    error.textContent = 'The user id is a whole number, like 42.';
    return;
  }
  if (!token) {
    error.textContent = 'Paste the token you were given for this user id.';
    return;
  }
  error.textContent = 'Signing in…';
  const button = ev.submitter as HTMLButtonElement | null;
  if (button) button.disabled = true;
  try {
    const client = await HongbaoClient.signIn(Number(userText), token);
    error.textContent = '';
    start(client);
  } catch (err) {
    error.textContent = (err as Error).message;
  } finally {
    if (button) button.disabled = false;
  }
}

function start(client: HongbaoClient): void {
  const packets = new Packets(client);
  session = { client, packets, wonCents: 0, wonCount: 0, shaking: false };
  client.onNotify = (n) => packets.add(n);
  client.onClosed = (sentence) => stop(sentence);
  $('who-name').textContent = `User ${client.userId}`;
  $('who').hidden = false;
  $('signin').hidden = true;
  $('play').hidden = false;
  updateTally();
  $('shake').focus();
}

function stop(sentence = ''): void {
  session?.client.close();
  session = null;
  $<HTMLDialogElement>('packet').close();
  $('inbox').replaceChildren();
  $('sent').replaceChildren();
  $('inbox-empty').hidden = false;
  $('who').hidden = true;
  $('play').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = sentence;
}

// ---- shake ----------------------------------------------------------------------------------------

function showResult(outcome: 'hit' | 'miss' | 'refused', text: string, detail = ''): void {
  const box = $('result');
  box.dataset.outcome = outcome;
  const p = document.createElement('p');
  p.className = 'result-text';
  p.textContent = text;
  const parts: HTMLElement[] = [p];
  if (detail) {
    const d = document.createElement('p');
    d.className = 'result-detail';
    d.textContent = detail;
    parts.push(d);
  }
  box.replaceChildren(...parts);
  box.classList.remove('pop');
  void box.offsetWidth; // restart the animation
  box.classList.add('pop');
}

async function shake(): Promise<void> {
  const s = session;
  if (!s || s.shaking) return;
  s.shaking = true;
  const button = $<HTMLButtonElement>('shake');
  button.setAttribute('aria-busy', 'true');
  button.classList.add('wobble');
  try {
    const [frame] = await Promise.all([s.client.request((id) => encodeShake(id)), delay(reducedMotion ? 0 : 420)]);
    if (frame.type === ServerType.ShakeResult && frame.status === ShakeResultStatus.Hit) {
      s.wonCents += frame.cents;
      s.wonCount++;
      updateTally();
      showResult('hit', `You won ${formatCents(frame.cents)}!`, `Red packet #${frame.packetId}`);
      navigator.vibrate?.([80, 40, 80]);
    } else if (frame.type === ServerType.ShakeResult && frame.status === ShakeResultStatus.Miss) {
      showResult('miss', 'Nothing this time. Shake again!');
    } else if (frame.type === ServerType.ShakeResult) {
      showResult('refused', commonStatusText(frame.status) ?? `The server answered status ${frame.status}.`);
    } else {
      showResult('refused', frameError(frame));
    }
  } catch (err) {
    showResult('refused', (err as Error).message);
  } finally {
    s.shaking = false;
    button.classList.remove('wobble');
    button.removeAttribute('aria-busy');
  }
}

function updateTally(): void {
  $('won').textContent = formatCents(session?.wonCents ?? 0);
  const n = session?.wonCount ?? 0;
  $('won-count').textContent = `${n} ${n === 1 ? 'packet' : 'packets'}`;
}

/** DeviceMotion where the device has it: a sharp change of acceleration counts as a shake. */
function setupMotion(): void {
  if (!('DeviceMotionEvent' in window)) return;
  let last: { x: number; y: number; z: number } | null = null;
  let quietUntil = 0;
  const onMotion = (ev: DeviceMotionEvent) => {
    const a = ev.accelerationIncludingGravity;
    if (!a || a.x === null || a.y === null || a.z === null) return;
    const now = { x: a.x, y: a.y, z: a.z };
    if (last && Math.hypot(now.x - last.x, now.y - last.y, now.z - last.z) > 14 && performance.now() > quietUntil) {
      quietUntil = performance.now() + 1200;
      void shake();
    }
    last = now;
  };
  const DME = DeviceMotionEvent as unknown as { requestPermission?: () => Promise<'granted' | 'denied'> };
  const requestPermission = DME.requestPermission;
  if (typeof requestPermission === 'function') {
    // iOS (and recent Chromium) ask for permission, and only from a tap: offer it on touch screens only.
    if (!matchMedia('(pointer: coarse)').matches) return;
    const button = $<HTMLButtonElement>('motion');
    button.hidden = false;
    button.onclick = async () => {
      if ((await requestPermission.call(DME).catch(() => 'denied')) === 'granted') {
        addEventListener('devicemotion', onMotion);
        button.hidden = true;
      } else button.textContent = 'Motion sensor not allowed: use the button';
    };
  } else addEventListener('devicemotion', onMotion);
}

// ---- send -------------------------------------------------------------------------------------------

function byteCounter(inputId: string, outId: string, max: number): void {
  const input = $<HTMLInputElement>(inputId);
  const update = () => {
    const n = utf8Length(input.value);
    $(outId).textContent = `${n}/${max} bytes`;
    input.setAttribute('aria-invalid', String(n > max));
  };
  input.addEventListener('input', update);
  update();
}

async function send(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const s = session;
  const status = $('send-status');
  status.dataset.state = 'error';
  if (!s) return;
  const recipients = parseRecipients($<HTMLInputElement>('send-to').value);
  if (typeof recipients === 'string') {
    status.textContent = recipients;
    return;
  }
  const total = parseYuan($<HTMLInputElement>('send-total').value);
  if (total === null) {
    status.textContent = 'Write the total in yuan, like 10 or 8.88.';
    return;
  }
  const sharesText = $<HTMLInputElement>('send-shares').value.trim();
  if (!/^\d{1,5}$/.test(sharesText)) {
    status.textContent = 'The number of shares is a whole number, like 3.';
    return;
  }
  const shares = Number(sharesText);
  const cover = {
    title: $<HTMLInputElement>('send-title').value,
    colour: parseInt($<HTMLInputElement>('send-colour').value.slice(1), 16) || 0,
    story: $<HTMLTextAreaElement>('send-story').value,
  };
  const split = Number($<HTMLSelectElement>('send-split').value);
  let frame: ServerFrame;
  try {
    status.dataset.state = 'busy';
    status.textContent = 'Sending…';
    frame = await s.client.request((id) => encodeCreate(id, total, Math.min(shares, 0xffff), recipients, split, cover));
  } catch (err) {
    status.dataset.state = 'error';
    status.textContent = err instanceof RangeError ? createStatusText(0x10) : (err as Error).message;
    return;
  }
  if (frame.type === ServerType.CreateResult && frame.status === CreateStatus.Ok) {
    status.dataset.state = 'ok';
    status.textContent = `Sent packet #${frame.packetId}: ${formatCents(total)} in ${shares} shares to ${recipients.join(', ')}.`;
    addSent(frame.packetId, total, shares, recipients);
  } else {
    status.dataset.state = 'error';
    status.textContent = frame.type === ServerType.CreateResult ? createStatusText(frame.status) : frameError(frame);
  }
}

function addSent(packetId: number, total: number, shares: number, recipients: number[]): void {
  const li = document.createElement('li');
  li.dataset.packetId = String(packetId);
  const what = document.createElement('span');
  what.className = 'what';
  what.textContent = `#${packetId} · ${formatCents(total)} · ${shares} shares · to ${recipients.join(', ')}`;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'small';
  button.textContent = 'Details';
  button.setAttribute('aria-label', `Details of packet ${packetId}`);
  button.onclick = () => void session?.packets.show(packetId, 'details');
  li.append(what, button);
  $('sent').prepend(li);
}

// ---- look up ----------------------------------------------------------------------------------------

async function lookup(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const s = session;
  const status = $('lookup-status');
  const text = $<HTMLInputElement>('lookup-id').value.trim();
  if (!s) return;
  if (!/^\d{1,10}$/.test(text)) {
    status.textContent = 'A packet number is a whole number, like 12.';
    return;
  }
  status.textContent = '';
  // Ask first so that an unknown number is said here, not in an empty dialog.
  const frame = await s.client.request((id) => encodeDetails(id, Number(text))).catch((err: Error) => err);
  if (frame instanceof Error) {
    status.textContent = frame.message;
    return;
  }
  if (frame.type !== ServerType.DetailsResult || frame.status !== DetailsStatus.Found) {
    status.textContent = frame.type === ServerType.DetailsResult ? `There is no packet #${text}.` : frameError(frame);
    return;
  }
  await s.packets.show(Number(text), 'details');
}

// ---- wiring -----------------------------------------------------------------------------------------

$<HTMLFormElement>('signin-form').addEventListener('submit', (ev) => void signIn(ev));
$('sign-out').addEventListener('click', () => stop('Signed out.'));
$('shake').addEventListener('click', () => void shake());
$<HTMLFormElement>('send-form').addEventListener('submit', (ev) => void send(ev));
$<HTMLFormElement>('lookup-form').addEventListener('submit', (ev) => void lookup(ev));
byteCounter('send-title', 'title-bytes', MAX_TITLE_BYTES);
byteCounter('send-story', 'story-bytes', MAX_STORY_BYTES);
signInFromHash();
setupMotion();
document.documentElement.dataset.ready = 'true';
