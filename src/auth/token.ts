// User tokens: `<userId>.<expiresAtSeconds>.<base64url HMAC-SHA256(secret, "<userId>.<expiresAtSeconds>")>`.
// Verified in constant time; expired tokens are refused.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenCheck = { ok: true; userId: number; expiresAt: number } | { ok: false; reason: 'malformed' | 'forged' | 'expired' };

function mac(secret: string | Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

export function mintToken(secret: string | Buffer, userId: number, expiresAtSeconds: number): string {
  const payload = `${userId >>> 0}.${Math.floor(expiresAtSeconds)}`;
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

const TOKEN_SHAPE = /^(\d{1,10})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export function verifyToken(secret: string | Buffer, token: string, nowSeconds = Date.now() / 1000): TokenCheck {
  const m = TOKEN_SHAPE.exec(token);
  if (!m) return { ok: false, reason: 'malformed' };
  const userId = Number(m[1]);
  const expiresAt = Number(m[2]);
  if (userId > 0xffffffff) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(m[3], 'base64url');
  const expected = mac(secret, `${m[1]}.${m[2]}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'forged' };
  if (expiresAt <= nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, userId, expiresAt };
}
