//! Non-blocking `connect`, which std does not offer (its `connect` blocks the thread until the
//! handshake ends). On Linux we create the socket non-blocking and start the connect with two
//! calls into the C library that std already links; the netpoller then reports when the
//! handshake is done, as in Go's `netFD.connect`. Elsewhere the callers fall back to std's
//! blocking connect on a helper thread, off the Ps.
//!
//! The constants and `sockaddr` layouts below are those of Linux on the listed architectures
//! (the "generic" ABI: `O_NONBLOCK` = 0o4000, `EINPROGRESS` = 115).

pub(crate) use imp::{connect_tcp, connect_unix, set_backlog, SUPPORTED};

/// The accept-queue length gmp's listeners ask for (std asks for 128; tokio for 1024). The
/// kernel caps it at `net.core.somaxconn`.
pub(crate) const LISTEN_BACKLOG: i32 = 1024;

#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )
))]
mod imp {
    /// This target has a non-blocking connect.
    pub(crate) const SUPPORTED: bool = true;

    use std::ffi::{c_int, c_void};
    use std::io;
    use std::mem::size_of;
    use std::net::SocketAddr;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    extern "C" {
        fn socket(domain: c_int, kind: c_int, protocol: c_int) -> c_int;
        fn connect(fd: c_int, address: *const c_void, length: u32) -> c_int;
        fn listen(fd: c_int, backlog: c_int) -> c_int;
    }

    /// Sets the accept-queue length of a listening socket (`listen` again on a listening
    /// socket only changes its backlog).
    pub(crate) fn set_backlog(fd: std::os::fd::BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: `listen` takes no pointers; `fd` is open for the duration of the call.
        if unsafe { listen(fd.as_raw_fd(), backlog) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    const AF_UNIX: c_int = 1;
    const AF_INET: c_int = 2;
    const AF_INET6: c_int = 10;
    const SOCK_STREAM: c_int = 1;
    const SOCK_NONBLOCK: c_int = 0o4000;
    const SOCK_CLOEXEC: c_int = 0o2000000;
    const EINPROGRESS: i32 = 115;

    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port: u16,
        address: [u8; 4],
        zero: [u8; 8],
    }

    #[repr(C)]
    struct SockaddrIn6 {
        family: u16,
        port: u16,
        flowinfo: u32,
        address: [u8; 16],
        scope_id: u32,
    }

    #[repr(C)]
    struct SockaddrUn {
        family: u16,
        path: [u8; 108],
    }

    /// A socket whose connect has started.
    #[derive(Debug)]
    pub(crate) struct Connecting {
        pub(crate) fd: OwnedFd,
        /// The handshake is still running: wait for writability, then check `SO_ERROR`.
        pub(crate) in_progress: bool,
    }

    fn new_socket(domain: c_int) -> io::Result<OwnedFd> {
        // SAFETY: `socket` takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Starts connecting a new non-blocking socket of `domain` to the address `T`.
    fn start<T>(domain: c_int, address: &T) -> io::Result<Connecting> {
        use std::os::fd::AsRawFd;
        let fd = new_socket(domain)?;
        loop {
            // SAFETY: `address` points to a valid, initialised `sockaddr_*` of `size_of::<T>()`
            // bytes that lives across the call; `fd` is an open socket we own.
            let result = unsafe { connect(fd.as_raw_fd(), (address as *const T).cast(), size_of::<T>() as u32) };
            if result == 0 {
                return Ok(Connecting { fd, in_progress: false });
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(EINPROGRESS) => return Ok(Connecting { fd, in_progress: true }),
                _ if error.kind() == io::ErrorKind::Interrupted => continue,
                _ => return Err(error),
            }
        }
    }

    /// Starts a TCP connect to `address`.
    pub(crate) fn connect_tcp(address: SocketAddr) -> io::Result<Connecting> {
        match address {
            SocketAddr::V4(v4) => start(
                AF_INET,
                &SockaddrIn {
                    family: AF_INET as u16,
                    port: v4.port().to_be(),
                    address: v4.ip().octets(),
                    zero: [0; 8],
                },
            ),
            SocketAddr::V6(v6) => start(
                AF_INET6,
                &SockaddrIn6 {
                    family: AF_INET6 as u16,
                    port: v6.port().to_be(),
                    flowinfo: v6.flowinfo(),
                    address: v6.ip().octets(),
                    scope_id: v6.scope_id(),
                },
            ),
        }
    }

    /// Starts a Unix stream connect to `path`. A full accept queue gives `WouldBlock` (Unix
    /// sockets have no "in progress" state).
    pub(crate) fn connect_unix(path: &Path) -> io::Result<Connecting> {
        let bytes = path.as_os_str().as_bytes();
        let mut address = SockaddrUn { family: AF_UNIX as u16, path: [0; 108] };
        if bytes.len() >= address.path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "gmp::net::UnixStream::connect: path is too long"));
        }
        if bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "gmp::net::UnixStream::connect: path contains a NUL byte",
            ));
        }
        address.path[..bytes.len()].copy_from_slice(bytes);
        start(AF_UNIX, &address)
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    )
)))]
mod imp {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    /// This target has no non-blocking connect: callers use std's on a helper thread.
    pub(crate) const SUPPORTED: bool = false;

    #[derive(Debug)]
    pub(crate) struct Connecting {
        pub(crate) fd: OwnedFd,
        pub(crate) in_progress: bool,
    }

    fn unsupported() -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, "non-blocking connect is not available on this target")
    }

    pub(crate) fn connect_tcp(_address: SocketAddr) -> io::Result<Connecting> {
        Err(unsupported())
    }

    pub(crate) fn connect_unix(_path: &Path) -> io::Result<Connecting> {
        Err(unsupported())
    }

    /// Keeps std's backlog.
    pub(crate) fn set_backlog(_fd: std::os::fd::BorrowedFd<'_>, _backlog: i32) -> io::Result<()> {
        Ok(())
    }
}
