//! Reading: one read of a ready socket into the shared buffer, frames parsed in place, the
//! server's messages counted or passed on as events.
use super::*;

impl Worker {
    pub(super) fn on_socket(&mut self, slot: u32, bits: u32, now: u64) {
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
    pub(super) fn read_socket(&mut self, slot: u32, now: u64) {
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

    pub(super) fn keep_input(&mut self, slot: u32, bytes: &[u8]) {
        self.conns[slot as usize]
            .spill()
            .input
            .extend_from_slice(bytes);
    }

    pub(super) fn on_bytes(&mut self, slot: u32, mut data: &[u8], now: u64) {
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
    pub(super) fn on_frame(&mut self, slot: u32, opcode: u8, payload: &[u8], now: u64) -> bool {
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

    pub(super) fn on_message(&mut self, slot: u32, payload: &[u8], now: u64) -> bool {
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
}
