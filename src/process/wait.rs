//! Waiting for a child's exit without a thread: a pidfd on the netpoller, or SIGCHLD.

use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::task::{Context, Poll};

use crate::io::Async;
use crate::signal::{signal, Signal, SignalKind};

/// What [`Child::wait`](super::Child::wait) parks on; made at the first wait and kept.
#[derive(Debug)]
pub(crate) enum ExitWatch {
    /// A pidfd for the child, readable once it has exited.
    PidFd(Async<OwnedFd>),
    /// A SIGCHLD listener, where pidfds are not available.
    Sigchld(Signal),
}

impl ExitWatch {
    /// A pidfd for `child` if the kernel gives one, else a SIGCHLD listener.
    pub(crate) fn new(child: &std::process::Child) -> io::Result<ExitWatch> {
        #[cfg(linux_kernel)]
        {
            use rustix::process::{pidfd_open, Pid, PidfdFlags};
            match pidfd_open(Pid::from_child(child), PidfdFlags::empty()) {
                // Nothing reads the pidfd, so its blocking mode does not matter.
                Ok(pidfd) => return Ok(ExitWatch::PidFd(Async::new_nonblocking(pidfd, "gmp::process::Child::wait")?)),
                // No pidfd_open (before Linux 5.3) or a seccomp filter that forbids it.
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {}
                Err(error) => return Err(error.into()),
            }
        }
        #[cfg(not(linux_kernel))]
        let _ = child;
        Self::sigchld()
    }

    /// The SIGCHLD-driven watch (the fallback; also used by the tests).
    pub(crate) fn sigchld() -> io::Result<ExitWatch> {
        Ok(ExitWatch::Sigchld(signal(SignalKind::child())?))
    }

    /// Waits until `child` has exited and reaps it.
    pub(crate) async fn wait(&mut self, child: &mut std::process::Child) -> io::Result<ExitStatus> {
        poll_fn(|cx| self.poll_wait(cx, child)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>, child: &mut std::process::Child) -> Poll<io::Result<ExitStatus>> {
        match self {
            // `try_wait` is `waitpid(WNOHANG)`: "still running" is the pidfd's `WouldBlock`,
            // which clears its readiness until the exit event.
            ExitWatch::PidFd(pidfd) => pidfd.poll_read_ref(cx, |_| match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                Err(error) => Err(error),
            }),
            ExitWatch::Sigchld(sigchld) => loop {
                if let Some(status) = child.try_wait()? {
                    return Poll::Ready(Ok(status));
                }
                match sigchld.poll_recv(cx) {
                    Poll::Ready(Some(())) => continue,
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(io::Error::other(
                            "gmp::process::Child::wait: the runtime shut down while waiting",
                        )))
                    }
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sigchld_fallback_reaps_children_that_exit_before_and_during_the_wait() {
        let rt = crate::Builder::new().maxprocs(2).build().unwrap();
        rt.block_on(async {
            // One child exits at once (likely before the wait starts), one while it waits.
            for program in ["true", "sleep 0.2; exit 7"] {
                let mut child = std::process::Command::new("sh").args(["-c", program]).spawn().unwrap();
                let mut watch = ExitWatch::sigchld().unwrap();
                let status = crate::time::timeout(std::time::Duration::from_secs(10), watch.wait(&mut child))
                    .await
                    .expect("SIGCHLD wait timed out")
                    .unwrap();
                assert_eq!(status.code(), Some(if program == "true" { 0 } else { 7 }));
            }
        });
    }

    #[cfg(linux_kernel)]
    #[test]
    fn the_pidfd_watch_is_used_on_linux() {
        let rt = crate::Builder::new().maxprocs(1).build().unwrap();
        rt.block_on(async {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let mut watch = ExitWatch::new(&child).unwrap();
            assert!(matches!(watch, ExitWatch::PidFd(_)), "this kernel ({watch:?}) has pidfd_open");
            assert!(watch.wait(&mut child).await.unwrap().success());
        });
    }
}
