//! The finish: every connection closed politely, then the last report.
use super::*;

impl Worker {
    /// Close every connection politely: our close frame and FIN, then wait for the server's close.
    pub(super) fn begin_finish(&mut self, now: u64) {
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
    pub(super) fn finish(&mut self, now: u64) {
        for slot in 0..self.conns.len() as u32 {
            self.fail(slot, 1000, "closed by the simulator");
        }
        let second = self.sec.unwrap_or(now / MICROS);
        let mut events = std::mem::take(&mut self.events);
        self.report_second(&mut events, second, true);
        self.events = events;
    }
}
