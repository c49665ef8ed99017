//! Just enough RFC 6455 for a load generator (as `src/simulator/ws-frames.ts`): the upgrade
//! request, the check of the server's answer, masked client frames, and an in-place parser of the
//! server's unmasked frames. No extension is offered, so no compression; the server sends every
//! message in one frame, so a fragment is a protocol error.
use base64::Engine as _;
use sha1::{Digest, Sha1};

pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A `Sec-WebSocket-Key`: 16 bytes in base64 (24 characters).
pub fn websocket_key(bytes: &[u8; 16]) -> [u8; 24] {
    let mut out = [0u8; 24];
    B64.encode_slice(bytes, &mut out)
        .expect("16 bytes take 24 base64 characters");
    out
}

/// The `Sec-WebSocket-Accept` the server must answer to `key`.
pub fn expected_accept(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WS_GUID);
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    B64.encode_slice(digest, &mut out)
        .expect("20 bytes take 28 base64 characters");
    out
}

pub fn write_upgrade_request(out: &mut Vec<u8>, host_port: &str, path: &str, key: &[u8]) {
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host_port.as_bytes());
    out.extend_from_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

/// Where the head of an HTTP answer ends (the index of its blank line), if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Check the server's handshake answer (the head, up to and excluding the blank line).
pub fn check_upgrade_response(head: &[u8], key: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    let switching = status
        .strip_prefix("HTTP/1.1 101")
        .is_some_and(|rest| rest.is_empty() || !rest.as_bytes()[0].is_ascii_alphanumeric());
    if !switching {
        return Err(format!(
            "upgrade refused: {}",
            if status.is_empty() {
                "(empty answer)"
            } else {
                status
            }
        ));
    }
    let accept = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, value)| value.trim());
    if accept.map(str::as_bytes) == Some(&expected_accept(key)[..]) {
        Ok(())
    } else {
        Err("bad Sec-WebSocket-Accept".into())
    }
}

/// Append a masked client frame (FIN set) carrying `payload`.
pub fn write_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    let n = payload.len();
    out.push(0x80 | opcode);
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n < 65536 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
}

/// What the parser stopped on.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    Fragmented,
    ReservedBits,
    Masked,
    TooLong,
}

impl FrameError {
    pub fn message(&self) -> &'static str {
        match self {
            FrameError::Fragmented => "fragmented message",
            FrameError::ReservedBits => "reserved bits set (no extension was negotiated)",
            FrameError::Masked => "masked frame from the server",
            FrameError::TooLong => "frame longer than 4 GiB",
        }
    }
}

/// Hand every complete server frame in `buf` to `frame(opcode, payload)`, in place, until it
/// returns false or the bytes run out. Returns the offset of the first byte not consumed (the
/// start of an incomplete frame, or buf.len()).
pub fn parse_server_frames(
    buf: &[u8],
    mut frame: impl FnMut(u8, &[u8]) -> bool,
) -> Result<usize, FrameError> {
    let mut at = 0;
    while buf.len() - at >= 2 {
        let b0 = buf[at];
        let b1 = buf[at + 1];
        if b0 & 0x80 == 0 {
            return Err(FrameError::Fragmented);
        }
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if b1 & 0x80 != 0 {
            return Err(FrameError::Masked);
        }
        let (length, header) = match b1 & 0x7f {
            126 => {
                if buf.len() - at < 4 {
                    break;
                }
                (u16::from_be_bytes([buf[at + 2], buf[at + 3]]) as usize, 4)
            }
            127 => {
                if buf.len() - at < 10 {
                    break;
                }
                let n = u64::from_be_bytes(buf[at + 2..at + 10].try_into().expect("8 bytes"));
                if n >> 32 != 0 {
                    return Err(FrameError::TooLong);
                }
                (n as usize, 10)
            }
            n => (n as usize, 2),
        };
        if buf.len() - at < header + length {
            break;
        }
        let go_on = frame(b0 & 0x0f, &buf[at + header..at + header + length]);
        at += header + length;
        if !go_on {
            break;
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n < 65536 => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    type Frames = Vec<(u8, Vec<u8>)>;

    fn collect(buf: &[u8]) -> (Result<usize, FrameError>, Frames) {
        let mut got = Vec::new();
        let r = parse_server_frames(buf, |op, p| {
            got.push((op, p.to_vec()));
            true
        });
        (r, got)
    }

    #[test]
    fn parses_back_to_back_frames_of_every_length_form() {
        let big = vec![7u8; 300];
        let huge = vec![9u8; 70_000];
        let mut buf = server_frame(OP_BINARY, &[1, 2, 3]);
        buf.extend(server_frame(OP_PING, b""));
        buf.extend(server_frame(OP_BINARY, &big));
        buf.extend(server_frame(OP_BINARY, &huge));
        let (r, got) = collect(&buf);
        assert_eq!(r, Ok(buf.len()), "everything consumed");
        assert_eq!(got.len(), 4, "four frames");
        assert_eq!(got[0], (OP_BINARY, vec![1, 2, 3]), "short payload");
        assert_eq!(got[1], (OP_PING, vec![]), "empty ping");
        assert_eq!(got[2].1.len(), 300, "16-bit length");
        assert_eq!(got[3].1.len(), 70_000, "64-bit length");
    }

    #[test]
    fn stops_at_an_incomplete_frame_at_every_cut() {
        let mut buf = server_frame(OP_BINARY, &[5; 15]);
        let second_at = buf.len();
        buf.extend(server_frame(OP_BINARY, &[6; 200]));
        for cut in second_at..buf.len() {
            let (r, got) = collect(&buf[..cut]);
            assert_eq!(
                r,
                Ok(second_at),
                "cut at {cut}: the second frame waits for its bytes"
            );
            assert_eq!(got.len(), 1, "cut at {cut}: only the first frame");
        }
        for cut in 0..2 {
            assert_eq!(
                collect(&buf[..cut]).0,
                Ok(0),
                "a header of {cut} bytes waits"
            );
        }
    }

    #[test]
    fn refuses_what_a_server_must_not_send() {
        assert_eq!(
            collect(&[0x02, 0x00]).0,
            Err(FrameError::Fragmented),
            "no FIN"
        );
        assert_eq!(
            collect(&[0xc2, 0x00]).0,
            Err(FrameError::ReservedBits),
            "RSV1 set"
        );
        assert_eq!(
            collect(&[0x82, 0x80, 0, 0, 0, 0]).0,
            Err(FrameError::Masked),
            "masked"
        );
        let mut long = vec![0x82, 127];
        long.extend_from_slice(&(1u64 << 32).to_be_bytes());
        assert_eq!(collect(&long).0, Err(FrameError::TooLong), "above 4 GiB");
    }

    #[test]
    fn a_sink_can_stop_the_parse() {
        let mut buf = server_frame(OP_CLOSE, &[3, 232]);
        let first = buf.len();
        buf.extend(server_frame(OP_BINARY, &[1]));
        let r = parse_server_frames(&buf, |_, _| false);
        assert_eq!(
            r,
            Ok(first),
            "parsing stops after the frame the sink refused to go past"
        );
    }

    #[test]
    fn client_frames_are_masked() {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut out = Vec::new();
        write_client_frame(&mut out, OP_BINARY, &[1, 2, 3, 4, 5], mask);
        assert_eq!(out[..2], [0x82, 0x85], "FIN + binary, masked length 5");
        assert_eq!(out[2..6], mask, "the mask follows");
        let unmasked: Vec<u8> = out[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i & 3])
            .collect();
        assert_eq!(unmasked, vec![1, 2, 3, 4, 5], "payload XOR mask");
        out.clear();
        write_client_frame(&mut out, OP_BINARY, &[0; 200], mask);
        assert_eq!(out[..4], [0x82, 0x80 | 126, 0, 200], "16-bit length form");
    }

    #[test]
    fn checks_the_upgrade_answer() {
        // RFC 6455 section 1.3's example
        let key = b"dGhlIHNhbXBsZSBub25jZQ==";
        assert_eq!(
            &expected_accept(key),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "the RFC's accept value"
        );
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(check_upgrade_response(ok, key), Ok(()), "accepted");
        let bad = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA";
        assert_eq!(
            check_upgrade_response(bad, key),
            Err("bad Sec-WebSocket-Accept".into()),
            "wrong accept"
        );
        let refused = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0";
        assert_eq!(
            check_upgrade_response(refused, key),
            Err("upgrade refused: HTTP/1.1 404 Not Found".into()),
            "refused"
        );
        assert_eq!(
            check_upgrade_response(b"HTTP/1.1 1010", key),
            Err("upgrade refused: HTTP/1.1 1010".into()),
            "101 must be the whole code"
        );
        let mut buf = b"HTTP/1.1 101 OK\r\nA: b\r\n\r\n\x82\x00".to_vec();
        assert_eq!(head_end(&buf), Some(21), "the blank line is found");
        buf.truncate(20);
        assert_eq!(head_end(&buf), None, "an incomplete head");
    }

    #[test]
    fn keys_are_base64_of_16_bytes() {
        let key = websocket_key(&[0; 16]);
        assert_eq!(
            &key, b"AAAAAAAAAAAAAAAAAAAAAA==",
            "24 characters with padding"
        );
    }
}
