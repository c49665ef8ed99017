//! One worker process: ONE thread, one epoll set, up to ~19,900 sockets.
//!
//! Each loop turn: timers that are due (handshake deadlines, close deadlines), new connects under
//! the concurrency limit, the shakes that are due (open loop, from the shared schedule), the
//! events written to stdout in one write; then one epoll_pwait2 until the next due shake (no
//! sooner than 1 ms after the last send pass when shakes are back to back, so sends are batched
//! into ~1 ms ticks) or the next deadline. Every ready socket is read once per wakeup into one
//! shared buffer and its frames are parsed in place; nothing on the shake path allocates.
//!
//! The parts: `sender.rs` (schedule and shakes), `connect.rs` (sockets, handshake, writing),
//! `read.rs` (frames and messages), `finish.rs` (the polite close and the last report).
//!
//! What is counted here (stdio::Counters) goes to the coordinator once a second; logins, closes,
//! notifications and open answers go as events, and the coordinator applies the shared policy
//! (reconnect back-off, open retries) and keeps the tally.
use crate::conn::{Conn, State};
use crate::hist;
use crate::schedule::{Schedule, Slot};
use crate::stdio::{Command, Config, Counters, Events, LineReader, RateChange, SecondReport};
use crate::sys::{self, Epoll, Read};
use crate::token;
use crate::wire::{self, Message, ShakeFrame};
use crate::ws;
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::io;
use std::net::Ipv4Addr;

/// Shakes more than this overdue are dropped and counted, never sent in a burst.
const LATE_LIMIT_MICROS: u64 = 2_000_000;
/// Back-to-back shakes are sent in passes at most this far apart.
const TICK_MICROS: u64 = 1_000;
const MICROS: u64 = 1_000_000;
const READ_BUFFER: usize = 64 * 1024;
/// A socket with this much unsent output is not draining: shakes to it are dropped, opens retried.
const MAX_PENDING_OUTPUT: usize = 64 * 1024;
/// A server frame split across reads is kept up to this size (the server sends at most ~8 KiB).
const MAX_PARTIAL_FRAME: usize = 1 << 20;
const MAX_UPGRADE_ANSWER: usize = 8192;
/// After our close frame, the server has this long to close before we cut the socket.
const CLOSE_WAIT_MICROS: u64 = 2_000_000;
/// The finish waits at most this long for every connection to close.
const FINISH_WAIT_MICROS: u64 = 3_000_000;
/// While stopping, in-flight counts go to the coordinator at most this often (and at zero).
const IN_FLIGHT_REPORT_MICROS: u64 = 20_000;
const STDIN_TOKEN: u64 = u64::MAX;
const EPOLL_BATCH: usize = 1024;

mod connect;
mod finish;
mod read;
mod sender;

pub use connect::source_address_for;
use sender::Rates;

pub struct Worker {
    cfg: Config,
    target: (Ipv4Addr, u16),
    host_header: String,
    epoll: Epoll,
    conns: Vec<Conn>,
    mask: [u8; 4],
    key_seed: [u8; 12],
    shake: ShakeFrame,
    // connecting
    queue: VecDeque<u32>,
    handshaking: u32,
    next_nonce: u32,
    open_sockets: u32,
    /// (deadline, slot, nonce): every connect has the same timeout, so deadlines come in order
    connect_deadlines: VecDeque<(u64, u32, u32)>,
    close_deadlines: VecDeque<(u64, u32, u32)>,
    connected: u32,
    in_flight: u64,
    // sending
    schedule: Schedule,
    slots: Vec<Slot>,
    /// the second being sent and the next slot of it; None before the first second begins
    sec: Option<u64>,
    next: usize,
    sec_qps: u64,
    rates: Rates,
    last_send_pass: u64,
    last_wake: u64,
    stopping: bool,
    finish_deadline: Option<u64>,
    in_flight_reported: Option<(u64, u64)>,
    // counting
    counters: Counters,
    reported: Counters,
    second_latency: Histogram<u64>,
    total_latency: Histogram<u64>,
    hits: Vec<[u32; 3]>,
    // I/O
    events: Events,
    read_buf: Vec<u8>,
    scratch: Vec<u8>,
    token: String,
    stdin: LineReader,
}

impl Worker {
    pub fn new(cfg: Config) -> io::Result<Self> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        let ip: Ipv4Addr = cfg
            .host
            .parse()
            .map_err(|_| invalid(format!("host must be an IPv4 address, got {:?}", cfg.host)))?;
        if cfg.from == 0 || cfg.to < cfg.from || cfg.to > cfg.total {
            return Err(invalid(format!(
                "users {}-{} must lie inside 1..{}",
                cfg.from, cfg.to, cfg.total
            )));
        }
        let schedule = Schedule::new(cfg.total as u64).map_err(|e| invalid(e.to_string()))?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
        let mask = [random[0], random[1], random[2], random[3]];
        let mut key_seed = [0u8; 12];
        key_seed.copy_from_slice(&random[4..]);
        let count = (cfg.to - cfg.from + 1) as usize;
        let mut rates = Rates {
            now: cfg.qps,
            pending: Vec::new(),
        };
        for &c in &cfg.pending {
            rates.change(c);
        }
        Ok(Worker {
            target: (ip, cfg.port),
            host_header: format!("{}:{}", cfg.host, cfg.port),
            epoll: Epoll::new()?,
            conns: (0..count).map(|_| Conn::new()).collect(),
            mask,
            key_seed,
            shake: ShakeFrame::new(mask),
            queue: (0..count as u32).collect(),
            handshaking: 0,
            next_nonce: 1,
            open_sockets: 0,
            connect_deadlines: VecDeque::new(),
            close_deadlines: VecDeque::new(),
            connected: 0,
            in_flight: 0,
            schedule,
            slots: Vec::new(),
            sec: None,
            next: 0,
            sec_qps: 0,
            rates,
            last_send_pass: 0,
            last_wake: 0,
            stopping: false,
            finish_deadline: None,
            in_flight_reported: None,
            counters: Counters::default(),
            reported: Counters::default(),
            second_latency: hist::latency_histogram(),
            total_latency: hist::latency_histogram(),
            hits: Vec::new(),
            events: Events::default(),
            read_buf: vec![0; READ_BUFFER],
            scratch: Vec::with_capacity(512),
            token: String::with_capacity(64),
            stdin: LineReader::default(),
            cfg,
        })
    }

    fn user(&self, slot: u32) -> u32 {
        self.cfg.from + slot
    }

    /// Run until the coordinator's `close` (exit code 0) or until stdin closes (the coordinator is
    /// gone: exit at once, also 0 — there is nobody to report to). `early_stdin` is what was read
    /// past the config line.
    pub fn run(mut self, early_stdin: &[u8]) -> io::Result<i32> {
        sys::set_nonblocking(0)?;
        self.epoll.add(0, sys::IN, STDIN_TOKEN)?;
        self.events
            .hello(std::process::id(), self.cfg.from, self.cfg.to);
        if !self.commands(early_stdin, sys::now_micros()) {
            return Ok(0);
        }
        let mut ready = vec![libc::epoll_event { events: 0, u64: 0 }; EPOLL_BATCH];
        let mut stdin_buf = vec![0u8; 16 * 1024];
        loop {
            let now = sys::now_micros();
            self.expire(now);
            self.pump_connects(now);
            if !self.stopping {
                self.send_due(now);
            } else {
                self.report_in_flight(now);
            }
            if let Some(deadline) = self.finish_deadline {
                if self.open_sockets == 0 || now >= deadline {
                    self.finish(now);
                    self.flush()?;
                    return Ok(0);
                }
            }
            self.flush()?;
            let mut timeout = self.timeout(now);
            let tick = self.cfg.tick_micros;
            if tick > 0 && self.last_wake + tick > now && timeout > 0 {
                // too soon since the last wakeup: let answers gather, then take them in one pass
                let nap = (self.last_wake + tick - now).min(timeout);
                std::thread::sleep(std::time::Duration::from_micros(nap));
                timeout -= nap;
            }
            let n = self.epoll.wait(&mut ready, timeout)?;
            let now = sys::now_micros();
            self.last_wake = now;
            for ev in &ready[..n] {
                let (token, bits) = (ev.u64, ev.events);
                if token == STDIN_TOKEN {
                    match sys::read(0, &mut stdin_buf)? {
                        Read::Data(k) => {
                            let bytes = stdin_buf[..k].to_vec();
                            if !self.commands(&bytes, now) {
                                return Ok(0);
                            }
                        }
                        Read::Eof => return Ok(0),
                        Read::Again => {}
                    }
                } else {
                    self.on_socket(token as u32, bits, now);
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.events.flush_ready();
        if !self.events.buf.is_empty() {
            sys::write_all(1, &self.events.buf)?;
            self.events.buf.clear();
        }
        Ok(())
    }

    /// How long epoll may sleep: until the next due shake (batched into ticks), deadline or report.
    fn timeout(&self, now: u64) -> u64 {
        let mut wake = now + MICROS;
        if let (false, Some(sec)) = (self.stopping, self.sec) {
            let due = match self.slots.get(self.next) {
                Some(s) => sec * MICROS + s.offset_micros as u64,
                None => (sec + 1) * MICROS,
            };
            wake = wake.min(due.max(self.last_send_pass + TICK_MICROS));
        }
        for q in [&self.connect_deadlines, &self.close_deadlines] {
            if let Some(&(deadline, _, _)) = q.front() {
                wake = wake.min(deadline);
            }
        }
        if let Some(deadline) = self.finish_deadline {
            wake = wake.min(deadline);
        }
        if let (true, Some((n, at))) = (self.stopping, self.in_flight_reported) {
            if n != self.in_flight {
                wake = wake.min(at + IN_FLIGHT_REPORT_MICROS);
            }
        }
        wake.saturating_sub(now)
    }

    // ---- commands ------------------------------------------------------------------------------

    /// Handle the complete lines in `bytes`; false when told to leave at once.
    fn commands(&mut self, bytes: &[u8], now: u64) -> bool {
        let mut lines: Vec<Result<Command, String>> = Vec::new();
        self.stdin.feed(bytes, |line| {
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(
                    serde_json::from_slice(line)
                        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(line))),
                );
            }
        });
        for cmd in lines {
            match cmd {
                Ok(c) => self.command(c, now),
                Err(e) => eprintln!("[{}] bad command ignored: {e}", self.cfg.id),
            }
        }
        true
    }

    fn command(&mut self, cmd: Command, now: u64) {
        match cmd {
            Command::Qps { qps, at } => self.rates.change(RateChange { qps, at }),
            Command::Connect { users } => {
                for u in users {
                    if u >= self.cfg.from && u <= self.cfg.to {
                        self.queue.push_back(u - self.cfg.from);
                    }
                }
            }
            Command::Open { user, packet } => {
                if user >= self.cfg.from && user <= self.cfg.to {
                    self.send_open(user - self.cfg.from, packet, now);
                }
            }
            Command::Stop => self.stop(),
            Command::Close => {
                self.stop();
                self.begin_finish(now);
            }
        }
    }

    fn stop(&mut self) {
        if !self.stopping {
            self.stopping = true;
            self.in_flight_reported = None;
        }
    }

    fn report_in_flight(&mut self, now: u64) {
        let due = match self.in_flight_reported {
            None => true,
            Some((n, at)) => {
                n != self.in_flight && (self.in_flight == 0 || now >= at + IN_FLIGHT_REPORT_MICROS)
            }
        };
        if due {
            self.events.in_flight(self.in_flight);
            self.in_flight_reported = Some((self.in_flight, now));
        }
    }

    /// Close the connection and say why (unless finishing: the final report covers those).
    fn fail(&mut self, slot: u32, code: u16, reason: &str) {
        let conn = &mut self.conns[slot as usize];
        if conn.state == State::Idle {
            return;
        }
        let was_ready = conn.state == State::Ready;
        if conn.state.handshaking() {
            self.handshaking -= 1;
        }
        if was_ready {
            self.connected -= 1;
        }
        let lost = conn.shakes_out as u64 + conn.opens_out as u64;
        self.counters.lost += lost;
        self.in_flight -= lost;
        sys::close(conn.fd);
        *conn = Conn {
            nonce: conn.nonce,
            ..Conn::new()
        };
        self.open_sockets -= 1;
        if self.finish_deadline.is_none() {
            let user = self.user(slot);
            self.events.closed(user, code, reason, was_ready);
        }
    }
}
