//! The open-loop sender: the shared-clock schedule evaluated when a second begins, each slot sent
//! when its intended time has come (dropped when 2 s late or its user is not logged in), the
//! per-second report.
use super::*;

/// The rate plan (`RatePlan` in src/simulator/rate-plan.ts): the rate now and changes to come.
pub(super) struct Rates {
    pub(super) now: u64,
    pub(super) pending: Vec<RateChange>,
}

impl Rates {
    /// A change replaces the changes planned for the same or later seconds.
    pub(super) fn change(&mut self, c: RateChange) {
        self.pending.retain(|p| p.at < c.at);
        self.pending.push(c);
    }

    pub(super) fn for_second(&mut self, second: u64) -> u64 {
        while self.pending.first().is_some_and(|c| second >= c.at) {
            self.now = self.pending.remove(0).qps;
        }
        self.now
    }
}

impl Worker {
    pub(super) fn send_due(&mut self, now: u64) {
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

    pub(super) fn load_second(&mut self, second: u64) {
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
    pub(super) fn report_second(&mut self, events: &mut Events, second: u64, last: bool) {
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

    pub(super) fn roll_second(&mut self, second: u64) {
        let mut events = std::mem::take(&mut self.events);
        self.report_second(&mut events, second, false);
        self.events = events;
    }

    pub(super) fn send_shake(&mut self, slot: u32, due: u64) {
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

    pub(super) fn send_open(&mut self, slot: u32, packet: u32, now: u64) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
