//! A descriptor table of the calling thread's own, for a server run on a worker thread.
//!
//! Why: this machine's agent (pid 1) walks every process's /proc/<pid>/fd each second, at ~0.23 µs
//! per descriptor, so a million server sockets cost it ~0.2 of a core taken from the server.
//! /proc/<pid>/fd lists the main thread's table; a thread that unshares its table has its sockets
//! listed under /proc/<pid>/task/<tid>/fd only, which that walk skips. The loadgen worker does the
//! same for the client sockets (native/loadgen/src/sys.rs).

use napi::{Error, Status};
use napi_derive::napi;

/// Gives the calling thread a private copy of the process's descriptor table: what it opens from
/// now on (and the threads it starts) is not in the main thread's table, and the reverse.
#[napi]
pub fn private_fd_table() -> napi::Result<()> {
    // SAFETY: unshare with a flag constant; it affects only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_FILES) } == 0 {
        Ok(())
    } else {
        let err = std::io::Error::last_os_error();
        Err(Error::new(
            Status::GenericFailure,
            format!("unshare(CLONE_FILES): {err}"),
        ))
    }
}
