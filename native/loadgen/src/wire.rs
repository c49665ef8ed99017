//! The hongbao binary protocol (docs/protocol.md) as far as a simulated user speaks it: masked
//! client frames built once or into a reused buffer, and the server's messages read in place.
//!
//! Request ids carry the request's intended send time: the low 31 bits are that time in µs
//! (modulo 2^31, ~35 minutes), the top bit says Open (1) or Shake (0). The server echoes the id,
//! so an answer gives its own latency and no table of outstanding requests is kept; a
//! connection only counts what it has outstanding (for `lost` and the drain).
use crate::ws::{write_client_frame, OP_BINARY};

pub const PROTOCOL_VERSION: u8 = 1;
pub const HEADER_SIZE: usize = 6;
pub const LOGIN: u8 = 0x01;
pub const SHAKE: u8 = 0x02;
pub const OPEN: u8 = 0x03;
pub const LOGIN_OK: u8 = 0x81;
pub const SHAKE_RESULT: u8 = 0x82;
pub const OPEN_RESULT: u8 = 0x83;
pub const PACKET_NOTIFY: u8 = 0x90;
pub const ERROR: u8 = 0xee;

pub const SHAKE_MISS: u8 = 0;
pub const SHAKE_HIT: u8 = 1;
pub const OVERLOADED: u8 = 0x40;
pub const UNAVAILABLE: u8 = 0x41;

pub const OPEN_BIT: u32 = 1 << 31;
const TIME_BITS: u32 = OPEN_BIT - 1;

pub const SHAKE_FRAME_LEN: usize = 12; // 2 header + 4 mask + 6 payload
pub const OPEN_FRAME_LEN: usize = 16; // 2 header + 4 mask + 10 payload

#[inline]
pub fn request_id(intended_micros: u64, open: bool) -> u32 {
    (intended_micros as u32 & TIME_BITS) | if open { OPEN_BIT } else { 0 }
}

/// µs from the request's intended send time (encoded in its id) to `now_micros`.
#[inline]
pub fn elapsed_micros(request_id: u32, now_micros: u64) -> u64 {
    ((now_micros as u32).wrapping_sub(request_id) & TIME_BITS) as u64
}

/// The 12 bytes of a masked Shake frame: built once, the request id patched in per shake.
#[derive(Clone, Copy)]
pub struct ShakeFrame {
    bytes: [u8; SHAKE_FRAME_LEN],
    mask: [u8; 4],
}

impl ShakeFrame {
    pub fn new(mask: [u8; 4]) -> Self {
        let mut bytes = [0u8; SHAKE_FRAME_LEN];
        bytes[..6].copy_from_slice(&[0x82, 0x80 | 6, mask[0], mask[1], mask[2], mask[3]]);
        bytes[6] = PROTOCOL_VERSION ^ mask[0];
        bytes[7] = SHAKE ^ mask[1];
        ShakeFrame { bytes, mask }
    }

    #[inline]
    pub fn with_id(&mut self, id: u32) -> &[u8; SHAKE_FRAME_LEN] {
        let id = id.to_le_bytes();
        let m = self.mask;
        self.bytes[8] = id[0] ^ m[2];
        self.bytes[9] = id[1] ^ m[3];
        self.bytes[10] = id[2] ^ m[0];
        self.bytes[11] = id[3] ^ m[1];
        &self.bytes
    }
}

fn header(kind: u8, request_id: u32) -> [u8; HEADER_SIZE] {
    let id = request_id.to_le_bytes();
    [PROTOCOL_VERSION, kind, id[0], id[1], id[2], id[3]]
}

pub fn open_frame(request_id: u32, packet_id: u32, mask: [u8; 4]) -> [u8; OPEN_FRAME_LEN] {
    let mut payload = [0u8; 10];
    payload[..6].copy_from_slice(&header(OPEN, request_id));
    payload[6..].copy_from_slice(&packet_id.to_le_bytes());
    let mut out = [0u8; OPEN_FRAME_LEN];
    out[..6].copy_from_slice(&[0x82, 0x80 | 10, mask[0], mask[1], mask[2], mask[3]]);
    for (i, b) in payload.iter().enumerate() {
        out[6 + i] = b ^ mask[i & 3];
    }
    out
}

/// Append the masked Login frame of `user` with `token` (at most 128 bytes).
pub fn write_login_frame(out: &mut Vec<u8>, user: u32, token: &[u8], mask: [u8; 4]) {
    let mut payload = [0u8; HEADER_SIZE + 5 + 128];
    let n = token.len().min(128);
    payload[..HEADER_SIZE].copy_from_slice(&header(LOGIN, 0));
    payload[6..10].copy_from_slice(&user.to_le_bytes());
    payload[10] = n as u8;
    payload[11..11 + n].copy_from_slice(&token[..n]);
    write_client_frame(out, OP_BINARY, &payload[..11 + n], mask);
}

/// A server message, read in place.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    LoginOk,
    ShakeResult {
        request_id: u32,
        status: u8,
        packet_id: u32,
        cents: u32,
    },
    OpenResult {
        request_id: u32,
        status: u8,
        packet_id: u32,
        cents: u32,
    },
    Notify {
        packet_id: u32,
        sender: u32,
        share_count: u16,
        total_cents: u32,
    },
    Error {
        request_id: u32,
        code: u16,
    },
    /// details and create results: a simulated user never asks for them
    Other,
}

#[inline]
fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

pub fn parse_message(p: &[u8]) -> Result<Message, &'static str> {
    if p.len() < HEADER_SIZE || p[0] != PROTOCOL_VERSION {
        return Err("bad hongbao frame");
    }
    let request_id = u32_at(p, 2);
    let h = HEADER_SIZE;
    match p[1] {
        kind @ (SHAKE_RESULT | OPEN_RESULT) => {
            if p.len() < h + 9 {
                return Err("short result frame");
            }
            let (status, packet_id, cents) = (p[h], u32_at(p, h + 1), u32_at(p, h + 5));
            Ok(if kind == SHAKE_RESULT {
                Message::ShakeResult {
                    request_id,
                    status,
                    packet_id,
                    cents,
                }
            } else {
                Message::OpenResult {
                    request_id,
                    status,
                    packet_id,
                    cents,
                }
            })
        }
        PACKET_NOTIFY => {
            if p.len() < h + 22 {
                return Err("short notify frame");
            }
            Ok(Message::Notify {
                packet_id: u32_at(p, h),
                sender: u32_at(p, h + 4),
                share_count: u16::from_le_bytes([p[h + 8], p[h + 9]]),
                total_cents: u32_at(p, h + 10),
            })
        }
        LOGIN_OK => Ok(Message::LoginOk),
        ERROR => {
            if p.len() < h + 3 {
                return Err("short error frame");
            }
            Ok(Message::Error {
                request_id,
                code: u16::from_le_bytes([p[h], p[h + 1]]),
            })
        }
        _ => Ok(Message::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmask(frame: &[u8]) -> Vec<u8> {
        let mask = [frame[2], frame[3], frame[4], frame[5]];
        frame[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i & 3])
            .collect()
    }

    #[test]
    fn shake_frames_carry_their_request_id() {
        let mut f = ShakeFrame::new([9, 8, 7, 6]);
        let bytes = *f.with_id(0x0403_0201);
        assert_eq!(bytes[..2], [0x82, 0x86], "binary frame, masked, 6 bytes");
        assert_eq!(
            unmask(&bytes),
            vec![1, SHAKE, 1, 2, 3, 4],
            "version, type, request id LE"
        );
        assert_eq!(
            unmask(f.with_id(7)),
            vec![1, SHAKE, 7, 0, 0, 0],
            "the id is patched for the next shake"
        );
    }

    #[test]
    fn open_and_login_frames() {
        let open = open_frame(0x8000_0005, 77, [1, 2, 3, 4]);
        assert_eq!(
            unmask(&open),
            vec![1, OPEN, 5, 0, 0, 0x80, 77, 0, 0, 0],
            "open: header + packet id"
        );
        let mut out = Vec::new();
        write_login_frame(&mut out, 258, b"tok", [0, 0, 0, 0]);
        assert_eq!(out[1], 0x80 | 14, "11 + 3 bytes");
        assert_eq!(
            unmask(&out),
            vec![1, LOGIN, 0, 0, 0, 0, 2, 1, 0, 0, 3, b't', b'o', b'k'],
            "user LE, token length, token"
        );
    }

    #[test]
    fn request_ids_give_the_latency() {
        let intended = 1_764_086_400_123_456u64;
        let id = request_id(intended, false);
        assert_eq!(id & OPEN_BIT, 0, "a shake");
        assert_eq!(elapsed_micros(id, intended + 1_500), 1_500, "1.5 ms later");
        let open = request_id(intended, true);
        assert_ne!(open & OPEN_BIT, 0, "an open");
        assert_eq!(
            elapsed_micros(open, intended + 2_000_000),
            2_000_000,
            "2 s later, across the wrap of the low bits too"
        );
        let near_wrap = (1u64 << 31) - 10;
        assert_eq!(
            elapsed_micros(request_id(near_wrap, false), near_wrap + 25),
            25,
            "across 2^31"
        );
    }

    #[test]
    fn parses_server_messages() {
        let mut r = vec![1, SHAKE_RESULT, 9, 0, 0, 0, SHAKE_HIT];
        r.extend_from_slice(&42u32.to_le_bytes());
        r.extend_from_slice(&188u32.to_le_bytes());
        assert_eq!(
            parse_message(&r),
            Ok(Message::ShakeResult {
                request_id: 9,
                status: 1,
                packet_id: 42,
                cents: 188
            }),
            "a hit"
        );
        assert_eq!(
            parse_message(&r[..10]),
            Err("short result frame"),
            "cut short"
        );
        let mut n = vec![1, PACKET_NOTIFY, 0, 0, 0, 0];
        n.extend_from_slice(&5u32.to_le_bytes());
        n.extend_from_slice(&6u32.to_le_bytes());
        n.extend_from_slice(&3u16.to_le_bytes());
        n.extend_from_slice(&300u32.to_le_bytes());
        n.extend_from_slice(&0f64.to_le_bytes());
        assert_eq!(
            parse_message(&n),
            Ok(Message::Notify {
                packet_id: 5,
                sender: 6,
                share_count: 3,
                total_cents: 300
            }),
            "a notify"
        );
        assert_eq!(
            parse_message(&[1, ERROR, 3, 0, 0, 0, 7, 0, 2]),
            Ok(Message::Error {
                request_id: 3,
                code: 7
            }),
            "an error frame"
        );
        assert_eq!(
            parse_message(&[2, LOGIN_OK, 0, 0, 0, 0]),
            Err("bad hongbao frame"),
            "wrong version"
        );
        assert_eq!(
            parse_message(&[1, 0x84, 0, 0, 0, 0, 5]),
            Ok(Message::Other),
            "details are ignored"
        );
    }
}
