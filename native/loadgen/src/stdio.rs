//! The worker's side of the coordinator protocol (docs/simulator.md, "Coordinator and workers"):
//! newline-delimited JSON, the config as the first line on stdin, then commands on stdin, events
//! on stdout. Volumes are low (rate changes, reconnects, opens, one stats line a second), so
//! JSON costs nothing that matters; the shake path never touches it.
use serde::{Deserialize, Serialize};
use std::io::Write as _;

/// The first line on stdin.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// name in log lines
    pub id: String,
    /// the server, an IPv4 address (the coordinator resolves names)
    pub host: String,
    pub port: u16,
    pub path: String,
    /// handshake + login must finish within this time
    pub timeout_ms: u64,
    /// users this worker simulates, inclusive
    pub from: u32,
    pub to: u32,
    /// users in the whole experiment (the schedule's modulus)
    pub total: u32,
    /// server secret for minting tokens (never on the command line: ps shows arguments)
    pub secret: String,
    pub token_ttl_seconds: u64,
    pub connect_concurrency: u32,
    /// 0: the kernel picks the source address; N: N users per 127.1.x.y address
    pub users_per_source_address: u32,
    /// target rate now, and changes already planned
    pub qps: u64,
    #[serde(default)]
    pub pending: Vec<RateChange>,
    /// 0: wake for every readiness; T: at most one wakeup per T µs, so the answers that arrived
    /// meanwhile are read in one pass (fewer epoll calls, latencies read up to T µs late)
    #[serde(default)]
    pub tick_micros: u64,
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateChange {
    pub qps: u64,
    /// unix second from which it applies
    pub at: u64,
}

#[derive(Deserialize, Debug, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "camelCase", deny_unknown_fields)]
pub enum Command {
    /// the rate from unix second `at` on (replaces changes planned for `at` or later)
    Qps { qps: u64, at: u64 },
    /// (re)connect these users (those not connected or connecting)
    Connect { users: Vec<u32> },
    /// open group packet `packet` as `user`
    Open { user: u32, packet: u32 },
    /// send no more shakes; keep answering, report the in-flight count as it falls
    Stop,
    /// close every connection, report the final counters, exit 0
    Close,
}

/// What the worker counts itself. The coordinator counts the rest (logins, disconnects, opens'
/// outcomes, notifications) from the events.
#[derive(Serialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub sent: u64,
    pub hits: u64,
    pub hit_cents: u64,
    pub misses: u64,
    /// shakes answered Overloaded (opens' are the coordinator's)
    pub overloaded: u64,
    pub unavailable: u64,
    /// Error frames and unknown shake statuses
    pub errors: u64,
    pub dropped: u64,
    pub opens_sent: u64,
    pub unmatched: u64,
    pub lost: u64,
}

impl Counters {
    pub fn minus(&self, o: &Counters) -> Counters {
        Counters {
            sent: self.sent - o.sent,
            hits: self.hits - o.hits,
            hit_cents: self.hit_cents - o.hit_cents,
            misses: self.misses - o.misses,
            overloaded: self.overloaded - o.overloaded,
            unavailable: self.unavailable - o.unavailable,
            errors: self.errors - o.errors,
            dropped: self.dropped - o.dropped,
            opens_sent: self.opens_sent - o.opens_sent,
            unmatched: self.unmatched - o.unmatched,
            lost: self.lost - o.lost,
        }
    }
}

/// One second's report (also the last, partial one inside `final`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecondReport<'a> {
    pub second: u64,
    pub qps: u64,
    pub connected: u32,
    pub in_flight: u64,
    /// counted in this second
    pub counters: Counters,
    /// [packetId, user, cents] of the hits answered in this second
    pub hits: &'a [[u32; 3]],
    /// this second's shake latencies (µs), HDR V2 compressed base64; "" when none
    pub histogram: String,
}

/// Events, one JSON object a line, collected during a loop turn and written once at its end.
#[derive(Default)]
pub struct Events {
    pub buf: Vec<u8>,
    ready: Vec<u32>,
}

impl Events {
    fn line(&mut self, value: &impl Serialize) {
        serde_json::to_writer(&mut self.buf, value).expect("serializing into memory cannot fail");
        self.buf.push(b'\n');
    }

    pub fn hello(&mut self, pid: u32, from: u32, to: u32) {
        self.line(&serde_json::json!({ "e": "hello", "pid": pid, "from": from, "to": to }));
    }

    /// Consecutive logins are batched into one line (every other event flushes them first, so the
    /// coordinator sees a login before anything that happens on that connection).
    pub fn ready(&mut self, user: u32) {
        self.ready.push(user);
    }

    pub fn closed(&mut self, user: u32, code: u16, reason: &str, was_ready: bool) {
        self.flush_ready();
        self.line(&serde_json::json!({ "e": "closed", "user": user, "code": code, "reason": reason, "wasReady": was_ready }));
    }

    pub fn notify(&mut self, user: u32, packet: u32, sender: u32, shares: u16, cents: u32) {
        self.flush_ready();
        let _ = writeln!(
            self.buf,
            r#"{{"e":"notify","user":{user},"packet":{packet},"sender":{sender},"shares":{shares},"cents":{cents}}}"#
        );
    }

    /// An open's answer; `micros` is -1 when no open was outstanding on the connection.
    pub fn open(&mut self, user: u32, status: u8, packet: u32, cents: u32, micros: i64) {
        self.flush_ready();
        let _ = writeln!(
            self.buf,
            r#"{{"e":"open","user":{user},"status":{status},"packet":{packet},"cents":{cents},"micros":{micros}}}"#
        );
    }

    /// An open that could not be written (the socket is not draining): the coordinator retries.
    pub fn open_unsent(&mut self, user: u32, packet: u32) {
        self.flush_ready();
        let _ = writeln!(
            self.buf,
            r#"{{"e":"openUnsent","user":{user},"packet":{packet}}}"#
        );
    }

    pub fn second(&mut self, report: &SecondReport<'_>) {
        self.flush_ready();
        let mut v = serde_json::to_value(report).expect("plain data");
        v["e"] = "second".into();
        self.line(&v);
    }

    pub fn in_flight(&mut self, n: u64) {
        self.flush_ready();
        let _ = writeln!(self.buf, r#"{{"e":"inflight","n":{n}}}"#);
    }

    pub fn finished(&mut self, last: &SecondReport<'_>, total: &Counters, histogram: String) {
        self.flush_ready();
        let mut v = serde_json::to_value(last).expect("plain data");
        v["e"] = "final".into();
        v["total"] = serde_json::to_value(total).expect("plain data");
        v["totalHistogram"] = histogram.into();
        self.line(&v);
    }

    pub fn flush_ready(&mut self) {
        if !self.ready.is_empty() {
            let users = std::mem::take(&mut self.ready);
            self.line(&serde_json::json!({ "e": "ready", "users": users }));
            self.ready = users;
            self.ready.clear();
        }
    }
}

/// Splits stdin's bytes into lines.
#[derive(Default)]
pub struct LineReader {
    pending: Vec<u8>,
}

impl LineReader {
    /// Feed bytes; call `line` for every complete line.
    pub fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            line(&self.pending[start..start + nl]);
            start += nl + 1;
        }
        self.pending.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let c: Command =
            serde_json::from_str(r#"{"cmd":"qps","qps":600,"at":1764086400}"#).unwrap();
        assert_eq!(
            c,
            Command::Qps {
                qps: 600,
                at: 1_764_086_400
            },
            "a rate change"
        );
        let c: Command = serde_json::from_str(r#"{"cmd":"connect","users":[4,5]}"#).unwrap();
        assert_eq!(c, Command::Connect { users: vec![4, 5] }, "a reconnect");
        let c: Command = serde_json::from_str(r#"{"cmd":"close"}"#).unwrap();
        assert_eq!(c, Command::Close, "the finish");
        assert!(
            serde_json::from_str::<Command>(r#"{"cmd":"dance"}"#).is_err(),
            "unknown commands are refused"
        );
    }

    #[test]
    fn lines_split_across_reads() {
        let mut r = LineReader::default();
        let mut got: Vec<String> = Vec::new();
        r.feed(b"ab\ncd", |l| got.push(String::from_utf8_lossy(l).into()));
        r.feed(b"e\n\nf", |l| got.push(String::from_utf8_lossy(l).into()));
        assert_eq!(got, vec!["ab", "cde", ""], "complete lines only, in order");
    }

    #[test]
    fn ready_events_are_batched() {
        let mut e = Events::default();
        e.ready(3);
        e.ready(4);
        e.notify(3, 9, 1, 3, 300);
        e.flush_ready();
        let text = String::from_utf8(e.buf).unwrap();
        assert_eq!(
            text, "{\"e\":\"ready\",\"users\":[3,4]}\n{\"e\":\"notify\",\"user\":3,\"packet\":9,\"sender\":1,\"shares\":3,\"cents\":300}\n",
            "logins first, batched: {text}"
        );
    }
}
