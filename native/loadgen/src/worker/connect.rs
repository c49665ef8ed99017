//! Connecting (under the concurrency limit, from spread source addresses), the WebSocket
//! handshake and login, deadlines, and writing to a socket.
use super::*;

/// Source address for a user when spreading over 127.1.x.y (`sourceAddressFor` in simulator.ts).
pub fn source_address_for(user: u32, users_per_address: u32) -> Ipv4Addr {
    let block = (user - 1) / users_per_address;
    Ipv4Addr::new(127, 1, ((block / 254) % 256) as u8, (block % 254 + 1) as u8)
}

impl Worker {
    /// Write `bytes` to the connection, or queue them behind output it has not taken yet. A
    /// request (`control` false) is refused when the socket takes nothing or is not draining; a
    /// control frame (upgrade, login, pong, close) is always queued. A partial write queues the
    /// rest (a frame is never cut). False: nothing was written or queued.
    pub(super) fn write(&mut self, slot: u32, bytes: &[u8], control: bool) -> bool {
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

    pub(super) fn flush_output(&mut self, slot: u32) {
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

    pub(super) fn pump_connects(&mut self, now: u64) {
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

    pub(super) fn start_connect(&mut self, slot: u32, now: u64) {
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

    pub(super) fn key(&self, nonce: u32) -> [u8; 24] {
        let mut bytes = [0u8; 16];
        bytes[..12].copy_from_slice(&self.key_seed);
        bytes[12..].copy_from_slice(&nonce.to_le_bytes());
        ws::websocket_key(&bytes)
    }

    pub(super) fn connected_socket(&mut self, slot: u32) {
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

    pub(super) fn send_login(&mut self, slot: u32) {
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

    pub(super) fn expire(&mut self, now: u64) {
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
}
