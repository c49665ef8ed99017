//! One worker process: ONE thread, one epoll set, up to ~19,900 sockets.
//!
//! Each loop turn: timers that are due (handshake deadlines, close deadlines), new connects under
//! the concurrency limit, the shakes that are due (open loop, from the shared schedule), the
//! events written to stdout in one write; then one epoll_pwait2 until the next due shake (no
//! sooner than 1 ms after the last send pass when shakes are back to back, so sends are batched
//! into ~1 ms ticks) or the next deadline. Every ready socket is read once per wakeup into one
//! shared buffer and its frames are parsed in place; nothing on the shake path allocates.
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

/// Source address for a user when spreading over 127.1.x.y (`sourceAddressFor` in simulator.ts).
pub fn source_address_for(user: u32, users_per_address: u32) -> Ipv4Addr {
    let block = (user - 1) / users_per_address;
    Ipv4Addr::new(127, 1, ((block / 254) % 256) as u8, (block % 254 + 1) as u8)
}

/// The rate plan (`RatePlan` in src/simulator/rate-plan.ts): the rate now and changes to come.
struct Rates {
    now: u64,
    pending: Vec<RateChange>,
}

impl Rates {
    /// A change replaces the changes planned for the same or later seconds.
    fn change(&mut self, c: RateChange) {
        self.pending.retain(|p| p.at < c.at);
        self.pending.push(c);
    }

    fn for_second(&mut self, second: u64) -> u64 {
        while self.pending.first().is_some_and(|c| second >= c.at) {
            self.now = self.pending.remove(0).qps;
        }
        self.now
    }
}

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

    // ---- the open-loop sender ------------------------------------------------------------------

    fn send_due(&mut self, now: u64) {
        let Some(mut sec) = self.sec else {
            // the second we start in is partial: nothing is due in it; seconds load only once they
            // begin, so a rate change for the next second still takes effect
            self.sec = Some(now / MICROS);
            self.slots.clear();
            self.next = 0;
            return;
        };
        let mut sent_any = false;
        loop {
            let Some(&slot) = self.slots.get(self.next) else {
                if (sec + 1) * MICROS > now {
                    break;
                }
                sec += 1;
                self.load_second(sec);
                continue;
            };
            let due = sec * MICROS + slot.offset_micros as u64;
            if due > now {
                break;
            }
            self.next += 1;
            sent_any = true;
            if now - due > LATE_LIMIT_MICROS {
                self.counters.dropped += 1;
                continue;
            }
            self.send_shake(slot.user - self.cfg.from, due);
        }
        if sent_any {
            self.last_send_pass = now;
        }
    }

    fn load_second(&mut self, second: u64) {
        // every slot of the previous second has been sent or dropped: its counters are complete
        if let Some(prev) = self.sec {
            self.roll_second(prev);
        }
        let qps = self.rates.for_second(second);
        self.sec = Some(second);
        self.sec_qps = qps;
        self.schedule.fill_second(
            second,
            qps,
            self.cfg.from as u64,
            self.cfg.to as u64,
            &mut self.slots,
        );
        self.next = 0;
    }

    /// Write the report of `second` (what was counted since the last one) into `events`; the
    /// cumulative histogram takes the second's whole: one pass a second, not a record per answer.
    fn report_second(&mut self, events: &mut Events, second: u64, last: bool) {
        let delta = self.counters.minus(&self.reported);
        self.reported = self.counters;
        let histogram = hist::encode(&self.second_latency, &mut self.scratch);
        self.total_latency
            .add(&self.second_latency)
            .expect("the same bounds");
        self.second_latency.reset();
        let report = SecondReport {
            second,
            qps: self.sec_qps,
            connected: self.connected,
            in_flight: self.in_flight,
            counters: delta,
            hits: &self.hits,
            histogram,
        };
        if last {
            events.finished(
                &report,
                &self.counters,
                hist::encode(&self.total_latency, &mut Vec::new()),
            );
        } else {
            events.second(&report);
        }
        self.hits.clear();
    }

    fn roll_second(&mut self, second: u64) {
        let mut events = std::mem::take(&mut self.events);
        self.report_second(&mut events, second, false);
        self.events = events;
    }

    fn send_shake(&mut self, slot: u32, due: u64) {
        let conn = &mut self.conns[slot as usize];
        if conn.state != State::Ready {
            self.counters.dropped += 1;
            return;
        }
        let frame = *self.shake.with_id(wire::request_id(due, false));
        if self.write(slot, &frame, false) {
            let conn = &mut self.conns[slot as usize];
            conn.shakes_out = conn.shakes_out.saturating_add(1);
            self.in_flight += 1;
            self.counters.sent += 1;
        } else {
            self.counters.dropped += 1;
        }
    }

    fn send_open(&mut self, slot: u32, packet: u32, now: u64) {
        if self.conns[slot as usize].state != State::Ready {
            return; // the coordinator sends it again after the reconnect
        }
        let frame = wire::open_frame(wire::request_id(now, true), packet, self.mask);
        if self.write(slot, &frame, false) {
            let conn = &mut self.conns[slot as usize];
            conn.opens_out = conn.opens_out.saturating_add(1);
            self.in_flight += 1;
            self.counters.opens_sent += 1;
        } else {
            let user = self.user(slot);
            self.events.open_unsent(user, packet);
        }
    }

    // ---- writing -------------------------------------------------------------------------------

    /// Write `bytes` to the connection, or queue them behind output it has not taken yet. A
    /// request (`control` false) is refused when the socket takes nothing or is not draining; a
    /// control frame (upgrade, login, pong, close) is always queued. A partial write queues the
    /// rest (a frame is never cut). False: nothing was written or queued.
    fn write(&mut self, slot: u32, bytes: &[u8], control: bool) -> bool {
        let conn = &mut self.conns[slot as usize];
        if conn.has_output() {
            if !control && conn.pending_output() + bytes.len() > MAX_PENDING_OUTPUT {
                return false;
            }
            conn.spill().output.extend_from_slice(bytes);
            return true;
        }
        match sys::send(conn.fd, bytes) {
            Ok(n) if n == bytes.len() => true,
            Ok(0) if !control => false,
            Ok(n) => {
                conn.spill().output.extend_from_slice(&bytes[n..]);
                let _ = self.epoll.modify(conn.fd, sys::IN | sys::OUT, slot as u64);
                true
            }
            // the socket is broken: reading it reports why and closes it
            Err(_) => false,
        }
    }

    fn flush_output(&mut self, slot: u32) {
        let conn = &mut self.conns[slot as usize];
        let fd = conn.fd;
        let Some(spill) = conn.spill.as_mut() else {
            return;
        };
        match sys::send(fd, &spill.output) {
            Ok(n) => {
                spill.output.drain(..n);
            }
            Err(_) => return,
        }
        if spill.output.is_empty() {
            conn.trim();
            let _ = self.epoll.modify(fd, sys::IN, slot as u64);
        }
    }

    // ---- connecting ----------------------------------------------------------------------------

    fn pump_connects(&mut self, now: u64) {
        if self.stopping {
            return;
        }
        while self.handshaking < self.cfg.connect_concurrency {
            let Some(slot) = self.queue.pop_front() else {
                break;
            };
            if self.conns[slot as usize].state == State::Idle {
                self.start_connect(slot, now);
            }
        }
        if self.queue.is_empty() && self.queue.capacity() > 1024 {
            self.queue = VecDeque::new(); // the start-up queue of every user is not kept
        }
    }

    fn start_connect(&mut self, slot: u32, now: u64) {
        let user = self.user(slot);
        let nonce = self.next_nonce;
        self.next_nonce = self.next_nonce.wrapping_add(1);
        let per = self.cfg.users_per_source_address;
        let source = (per > 0).then(|| source_address_for(user, per));
        let fd = match sys::connect_tcp(self.target, source) {
            Ok(fd) => fd,
            Err(e) => {
                self.events.closed(user, 1006, &e.to_string(), false);
                return;
            }
        };
        if let Err(e) = self.epoll.add(fd, sys::OUT, slot as u64) {
            sys::close(fd);
            self.events.closed(user, 1006, &e.to_string(), false);
            return;
        }
        let conn = &mut self.conns[slot as usize];
        conn.fd = fd;
        conn.nonce = nonce;
        conn.state = State::Connecting;
        self.handshaking += 1;
        self.open_sockets += 1;
        self.connect_deadlines
            .push_back((now + self.cfg.timeout_ms * 1000, slot, nonce));
    }

    fn key(&self, nonce: u32) -> [u8; 24] {
        let mut bytes = [0u8; 16];
        bytes[..12].copy_from_slice(&self.key_seed);
        bytes[12..].copy_from_slice(&nonce.to_le_bytes());
        ws::websocket_key(&bytes)
    }

    fn connected_socket(&mut self, slot: u32) {
        let conn = &self.conns[slot as usize];
        let (fd, nonce) = (conn.fd, conn.nonce);
        if let Err(e) = sys::connect_result(fd) {
            return self.fail(slot, 1006, &e.to_string());
        }
        let key = self.key(nonce);
        let mut req = std::mem::take(&mut self.scratch);
        req.clear();
        ws::write_upgrade_request(&mut req, &self.host_header, &self.cfg.path, &key);
        self.conns[slot as usize].state = State::Upgrading;
        let _ = self.epoll.modify(fd, sys::IN, slot as u64);
        self.write(slot, &req, true);
        self.scratch = req;
    }

    fn send_login(&mut self, slot: u32) {
        let user = self.user(slot);
        let expires = sys::now_micros() / MICROS + self.cfg.token_ttl_seconds;
        token::mint_token_into(self.cfg.secret.as_bytes(), user, expires, &mut self.token);
        let mut frame = std::mem::take(&mut self.scratch);
        frame.clear();
        wire::write_login_frame(&mut frame, user, self.token.as_bytes(), self.mask);
        self.conns[slot as usize].state = State::LoginSent;
        self.write(slot, &frame, true);
        self.scratch = frame;
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

    fn expire(&mut self, now: u64) {
        while let Some(&(deadline, slot, nonce)) = self.connect_deadlines.front() {
            if deadline > now {
                break;
            }
            self.connect_deadlines.pop_front();
            let conn = &self.conns[slot as usize];
            if conn.nonce == nonce && conn.state.handshaking() {
                self.fail(slot, 1006, "handshake or login timed out");
            }
        }
        if self.connect_deadlines.is_empty() && self.connect_deadlines.capacity() > 1024 {
            self.connect_deadlines = VecDeque::new(); // the start-up's 16 bytes a user are not kept
        }
        while let Some(&(deadline, slot, nonce)) = self.close_deadlines.front() {
            if deadline > now {
                break;
            }
            self.close_deadlines.pop_front();
            let conn = &self.conns[slot as usize];
            if conn.nonce == nonce && conn.state == State::Closing {
                self.fail(slot, 1000, "closed by the simulator");
            }
        }
    }

    // ---- reading -------------------------------------------------------------------------------

    fn on_socket(&mut self, slot: u32, bits: u32, now: u64) {
        let Some(conn) = self.conns.get(slot as usize) else {
            return;
        };
        match conn.state {
            State::Idle => {}
            State::Connecting => {
                if bits & (sys::OUT | sys::ERR_HUP) != 0 {
                    self.connected_socket(slot);
                }
            }
            _ => {
                if bits & sys::OUT != 0 && conn.has_output() {
                    self.flush_output(slot);
                }
                if bits & (sys::IN | sys::ERR_HUP) != 0 {
                    self.read_socket(slot, now);
                }
            }
        }
    }

    /// One read of a ready socket into the shared buffer (after the bytes it kept from before).
    fn read_socket(&mut self, slot: u32, now: u64) {
        let mut buf = std::mem::take(&mut self.read_buf);
        let kept = self.conns[slot as usize]
            .spill
            .as_ref()
            .map_or(0, |s| s.input.len());
        if buf.len() < kept + READ_BUFFER {
            buf.resize(kept + READ_BUFFER, 0);
        }
        let fd = self.conns[slot as usize].fd;
        match sys::recv(fd, &mut buf[kept..]) {
            Ok(Read::Data(n)) => {
                if kept > 0 {
                    let spill = self.conns[slot as usize].spill();
                    buf[..kept].copy_from_slice(&spill.input);
                    spill.input.clear();
                }
                self.on_bytes(slot, &buf[..kept + n], now);
            }
            Ok(Read::Again) => {}
            Ok(Read::Eof) => self.fail(slot, 1006, "connection lost"),
            Err(e) => self.fail(slot, 1006, &e.to_string()),
        }
        if buf.len() > READ_BUFFER * 4 {
            buf.truncate(READ_BUFFER);
            buf.shrink_to_fit();
        }
        self.read_buf = buf;
        if let Some(conn) = self.conns.get_mut(slot as usize) {
            conn.trim();
        }
    }

    fn keep_input(&mut self, slot: u32, bytes: &[u8]) {
        self.conns[slot as usize]
            .spill()
            .input
            .extend_from_slice(bytes);
    }

    fn on_bytes(&mut self, slot: u32, mut data: &[u8], now: u64) {
        let nonce = self.conns[slot as usize].nonce;
        if self.conns[slot as usize].state == State::Upgrading {
            let Some(end) = ws::head_end(data) else {
                if data.len() > MAX_UPGRADE_ANSWER {
                    return self.fail(slot, 1002, "upgrade answer too long");
                }
                return self.keep_input(slot, data);
            };
            if let Err(problem) = ws::check_upgrade_response(&data[..end], &self.key(nonce)) {
                return self.fail(slot, 1002, &problem);
            }
            self.send_login(slot);
            data = &data[end + 4..];
        }
        let parsed = ws::parse_server_frames(data, |opcode, payload| {
            self.on_frame(slot, opcode, payload, now)
        });
        let conn = &self.conns[slot as usize];
        if conn.state == State::Idle || conn.nonce != nonce {
            return; // closed while its frames were handled
        }
        match parsed {
            Err(e) => self.fail(slot, 1002, e.message()),
            Ok(at) if at < data.len() => {
                if data.len() - at > MAX_PARTIAL_FRAME {
                    return self.fail(slot, 1009, "frame too large");
                }
                self.keep_input(slot, &data[at..]);
            }
            Ok(_) => {}
        }
    }

    /// One complete server frame; false stops the parse (the connection closed).
    fn on_frame(&mut self, slot: u32, opcode: u8, payload: &[u8], now: u64) -> bool {
        match opcode {
            ws::OP_BINARY => self.on_message(slot, payload, now),
            ws::OP_PING => {
                let mut pong = std::mem::take(&mut self.scratch);
                pong.clear();
                ws::write_client_frame(&mut pong, ws::OP_PONG, payload, self.mask);
                self.write(slot, &pong, true);
                self.scratch = pong;
                true
            }
            ws::OP_PONG => true,
            ws::OP_CLOSE => {
                let code = if payload.len() >= 2 {
                    u16::from_be_bytes([payload[0], payload[1]])
                } else {
                    1005
                };
                let reason = if payload.len() > 2 {
                    String::from_utf8_lossy(&payload[2..]).into_owned()
                } else {
                    "closed by the server".into()
                };
                if self.conns[slot as usize].state != State::Closing {
                    let mut reply = std::mem::take(&mut self.scratch);
                    reply.clear();
                    ws::write_client_frame(
                        &mut reply,
                        ws::OP_CLOSE,
                        &payload[..payload.len().min(2)],
                        self.mask,
                    );
                    self.write(slot, &reply, true);
                    self.scratch = reply;
                }
                self.fail(slot, code, &reason);
                false
            }
            other => {
                self.fail(slot, 1002, &format!("unexpected opcode {other}"));
                false
            }
        }
    }

    fn on_message(&mut self, slot: u32, payload: &[u8], now: u64) -> bool {
        let message = match wire::parse_message(payload) {
            Ok(m) => m,
            Err(problem) => {
                self.fail(slot, 1002, problem);
                return false;
            }
        };
        let user = self.user(slot);
        let conn = &mut self.conns[slot as usize];
        match message {
            Message::LoginOk => {
                if conn.state != State::LoginSent {
                    self.fail(slot, 1002, "unexpected LoginOk");
                    return false;
                }
                conn.state = State::Ready;
                self.handshaking -= 1;
                self.connected += 1;
                self.events.ready(user);
            }
            Message::ShakeResult {
                request_id,
                status,
                packet_id,
                cents,
            } => {
                if request_id & wire::OPEN_BIT == 0 && conn.shakes_out > 0 {
                    conn.shakes_out -= 1;
                    self.in_flight -= 1;
                    let micros = wire::elapsed_micros(request_id, now);
                    hist::record_micros(&mut self.second_latency, micros);
                } else {
                    self.counters.unmatched += 1;
                }
                let c = &mut self.counters;
                match status {
                    wire::SHAKE_MISS => c.misses += 1,
                    wire::SHAKE_HIT => {
                        c.hits += 1;
                        c.hit_cents += cents as u64;
                        self.hits.push([packet_id, user, cents]);
                    }
                    wire::OVERLOADED => c.overloaded += 1,
                    wire::UNAVAILABLE => c.unavailable += 1,
                    _ => c.errors += 1,
                }
            }
            Message::OpenResult {
                request_id,
                status,
                packet_id,
                cents,
            } => {
                let micros = if request_id & wire::OPEN_BIT != 0 && conn.opens_out > 0 {
                    conn.opens_out -= 1;
                    self.in_flight -= 1;
                    wire::elapsed_micros(request_id, now) as i64
                } else {
                    self.counters.unmatched += 1;
                    -1
                };
                self.events.open(user, status, packet_id, cents, micros);
            }
            Message::Notify {
                packet_id,
                sender,
                share_count,
                total_cents,
            } => self
                .events
                .notify(user, packet_id, sender, share_count, total_cents),
            Message::Error { request_id, .. } => {
                self.counters.errors += 1;
                let outstanding = if request_id & wire::OPEN_BIT != 0 {
                    &mut conn.opens_out
                } else {
                    &mut conn.shakes_out
                };
                if *outstanding > 0 {
                    *outstanding -= 1;
                    self.in_flight -= 1;
                }
            }
            Message::Other => {}
        }
        true
    }

    // ---- the finish ----------------------------------------------------------------------------

    /// Close every connection politely: our close frame and FIN, then wait for the server's close.
    fn begin_finish(&mut self, now: u64) {
        if self.finish_deadline.is_some() {
            return;
        }
        self.finish_deadline = Some(now + FINISH_WAIT_MICROS);
        let close = {
            let mut f = Vec::new();
            ws::write_client_frame(&mut f, ws::OP_CLOSE, &1000u16.to_be_bytes(), self.mask);
            f
        };
        for slot in 0..self.conns.len() as u32 {
            match self.conns[slot as usize].state {
                State::Ready | State::LoginSent => {
                    let conn = &mut self.conns[slot as usize];
                    if conn.state == State::Ready {
                        self.connected -= 1;
                    } else {
                        self.handshaking -= 1;
                    }
                    conn.state = State::Closing;
                    let (fd, nonce) = (conn.fd, conn.nonce);
                    self.write(slot, &close, true);
                    if !self.conns[slot as usize].has_output() {
                        sys::shutdown_write(fd); // with output still queued, the FIN would cut it: the close deadline ends it
                    }
                    self.close_deadlines
                        .push_back((now + CLOSE_WAIT_MICROS, slot, nonce));
                }
                State::Connecting | State::Upgrading => {
                    self.fail(slot, 1000, "closed by the simulator")
                }
                State::Idle | State::Closing => {}
            }
        }
    }

    /// The last report: what was counted since the last second, and the totals to check against.
    fn finish(&mut self, now: u64) {
        for slot in 0..self.conns.len() as u32 {
            self.fail(slot, 1000, "closed by the simulator");
        }
        let second = self.sec.unwrap_or(now / MICROS);
        let mut events = std::mem::take(&mut self.events);
        self.report_second(&mut events, second, true);
        self.events = events;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_match_the_typescript_rule() {
        assert_eq!(
            source_address_for(1, 4),
            Ipv4Addr::new(127, 1, 0, 1),
            "users 1-4 share the first address"
        );
        assert_eq!(
            source_address_for(5, 4),
            Ipv4Addr::new(127, 1, 0, 2),
            "user 5 starts the second"
        );
        assert_eq!(
            source_address_for(254 * 4000 + 1, 4000),
            Ipv4Addr::new(127, 1, 1, 1),
            "block 254 moves to the next third octet"
        );
    }

    #[test]
    fn rate_changes_replace_later_plans() {
        let mut r = Rates {
            now: 10,
            pending: Vec::new(),
        };
        r.change(RateChange { qps: 400, at: 100 });
        r.change(RateChange { qps: 0, at: 102 });
        r.change(RateChange { qps: 50, at: 101 });
        assert_eq!(
            r.pending,
            vec![
                RateChange { qps: 400, at: 100 },
                RateChange { qps: 50, at: 101 }
            ],
            "the change at 101 dropped the one at 102"
        );
        assert_eq!(r.for_second(99), 10, "before the first change");
        assert_eq!(r.for_second(100), 400, "from 100");
        assert_eq!(r.for_second(105), 50, "from 101 on");
    }
}
