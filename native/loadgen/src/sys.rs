//! The few system calls the worker makes, wrapped once (every `unsafe` of the crate is here).
use std::io;
use std::net::Ipv4Addr;

pub type Fd = libc::c_int;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wall-clock microseconds since the Unix epoch (every process shares this clock: the schedule is
/// defined on it).
pub fn now_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

pub fn set_nonblocking(fd: Fd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; no pointers.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

/// Die with the parent (the coordinator): belt and braces next to "exit when stdin closes".
pub fn die_with_parent() {
    // SAFETY: prctl with integer arguments; signal() with a valid handler constant.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // Ctrl-C reaches the whole process group: the coordinator stops the workers itself, with
        // a drain and a final report, so the workers leave SIGINT to it.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
}

/// Give the calling thread a descriptor table of its own (a copy of the process's), so the sockets
/// it opens are listed under /proc/<pid>/task/<tid>/fd and not under /proc/<pid>/fd.
///
/// Why: this machine's agent (pid 1) walks every process's /proc/<pid>/fd each second, at ~0.23 µs
/// per descriptor: a million client sockets cost it a quarter of a core, taken from the server.
/// Descriptors in a thread's private table are not in that walk (measured: 90,000 of them cost it
/// 2 ms/s instead of 21–27). Nothing else changes: the limit, epoll and the sockets work as before.
pub fn private_fd_table() -> io::Result<()> {
    // SAFETY: unshare with a flag constant; it only affects the calling thread.
    check(unsafe { libc::unshare(libc::CLONE_FILES) }).map(|_| ())
}

pub fn close(fd: Fd) {
    // SAFETY: closing a descriptor we own; errors are of no use here.
    unsafe { libc::close(fd) };
}

pub struct Epoll {
    fd: Fd,
}

pub const IN: u32 = libc::EPOLLIN as u32;
pub const OUT: u32 = libc::EPOLLOUT as u32;
pub const ERR_HUP: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: no pointers.
        Ok(Epoll {
            fd: check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?,
        })
    }

    fn ctl(&self, op: libc::c_int, fd: Fd, events: u32, data: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) }).map(|_| ())
    }

    pub fn add(&self, fd: Fd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, data)
    }

    pub fn modify(&self, fd: Fd, events: u32, data: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, data)
    }

    /// Wait up to `timeout_micros` (µs precision: epoll_pwait2) for events into `events`.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_micros: u64) -> io::Result<usize> {
        let ts = libc::timespec {
            tv_sec: (timeout_micros / 1_000_000) as libc::time_t,
            tv_nsec: ((timeout_micros % 1_000_000) * 1000) as libc::c_long,
        };
        // SAFETY: events points to events.len() writable epoll_events; ts is valid; no sigmask.
        let r = unsafe {
            libc::epoll_pwait2(
                self.fd,
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                &ts,
                std::ptr::null(),
            )
        };
        match check(r) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        close(self.fd);
    }
}

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    }
}

fn set_int_option(
    fd: Fd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: value lives for the call; its size is passed.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// A nonblocking TCP connect to `target`, from `source` when given. `source` is bound with
/// IP_BIND_ADDRESS_NO_PORT (set before bind), so the kernel picks the port at connect() time from
/// the 4-tuple instead of searching for a port free on every address. Returns the socket, whose
/// connect is under way (writable when done).
pub fn connect_tcp(target: (Ipv4Addr, u16), source: Option<Ipv4Addr>) -> io::Result<Fd> {
    // SAFETY: plain socket() call.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    let result = (|| {
        set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        if let Some(ip) = source {
            set_int_option(fd, libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1)?;
            let addr = sockaddr(ip, 0);
            // SAFETY: addr is a valid sockaddr_in of the size given.
            check(unsafe {
                libc::bind(
                    fd,
                    (&addr as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            })?;
        }
        let addr = sockaddr(target.0, target.1);
        // SAFETY: as above.
        let r = unsafe {
            libc::connect(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(fd),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// The outcome of a finished nonblocking connect (SO_ERROR).
pub fn connect_result(fd: Fd) -> io::Result<()> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are valid for writing.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

/// send() without blocking or SIGPIPE: bytes written (0 when the socket buffer is full).
pub fn send(fd: Fd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: bytes is a valid slice for its length.
    let r = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

/// What one read of a socket gave.
pub enum Read {
    Data(usize),
    Eof,
    Again,
}

pub fn recv(fd: Fd, buf: &mut [u8]) -> io::Result<Read> {
    // SAFETY: buf is valid for writing buf.len() bytes.
    let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Read::Again),
            _ => Err(e),
        };
    }
    Ok(if r == 0 {
        Read::Eof
    } else {
        Read::Data(r as usize)
    })
}

/// read() of a plain descriptor (stdin): like recv.
pub fn read(fd: Fd, buf: &mut [u8]) -> io::Result<Read> {
    // SAFETY: buf is valid for writing buf.len() bytes.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Read::Again),
            _ => Err(e),
        };
    }
    Ok(if r == 0 {
        Read::Eof
    } else {
        Read::Data(r as usize)
    })
}

/// Half-close: our FIN after our close frame.
pub fn shutdown_write(fd: Fd) {
    // SAFETY: no pointers.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
}

/// Write all of `bytes` to a descriptor that may be nonblocking (stdout: a pipe to the
/// coordinator), waiting with poll() when it is full. An error (the coordinator is gone) is
/// returned to the caller, which then exits.
pub fn write_all(fd: Fd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: bytes is a valid slice.
        let r = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: p is a valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 1000) };
                    continue;
                }
                _ => return Err(e),
            }
        }
        bytes = &bytes[r as usize..];
    }
    Ok(())
}
