//! One simulated user's connection: a few dozen bytes, with a spill buffer allocated only while
//! a frame is split across reads or the socket is not taking our bytes.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// no socket (never connected, or closed: waiting for the coordinator's reconnect)
    Idle,
    /// nonblocking connect() under way
    Connecting,
    /// upgrade request sent, waiting for the 101 answer
    Upgrading,
    /// Login sent, waiting for LoginOk
    LoginSent,
    Ready,
    /// our close frame and FIN sent, waiting for the server's close
    Closing,
}

impl State {
    /// Counted against the connect-concurrency limit.
    pub fn handshaking(self) -> bool {
        matches!(
            self,
            State::Connecting | State::Upgrading | State::LoginSent
        )
    }
}

#[derive(Default)]
pub struct Spill {
    /// the start of a frame (or of the upgrade answer) whose rest has not arrived
    pub input: Vec<u8>,
    /// bytes the socket did not take yet (EPOLLOUT is armed while this is not empty)
    pub output: Vec<u8>,
}

pub struct Conn {
    pub fd: i32,
    /// this connect attempt's number: its WebSocket key, and stale timers are told by it
    pub nonce: u32,
    /// requests written and not answered yet, by kind: lost when the connection closes
    pub shakes_out: u16,
    pub opens_out: u16,
    pub state: State,
    pub spill: Option<Box<Spill>>,
}

impl Default for Conn {
    fn default() -> Self {
        Self::new()
    }
}

impl Conn {
    pub const fn new() -> Self {
        Conn {
            fd: -1,
            nonce: 0,
            shakes_out: 0,
            opens_out: 0,
            state: State::Idle,
            spill: None,
        }
    }

    pub fn has_output(&self) -> bool {
        self.spill.as_ref().is_some_and(|s| !s.output.is_empty())
    }

    pub fn pending_output(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.output.len())
    }

    pub fn spill(&mut self) -> &mut Spill {
        self.spill.get_or_insert_with(Default::default)
    }

    /// Free the spill buffer once it holds nothing.
    pub fn trim(&mut self) {
        if self
            .spill
            .as_ref()
            .is_some_and(|s| s.input.is_empty() && s.output.is_empty())
        {
            self.spill = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_a_few_dozen_bytes() {
        assert!(
            std::mem::size_of::<Conn>() <= 24,
            "Conn is {} bytes",
            std::mem::size_of::<Conn>()
        );
    }
}
