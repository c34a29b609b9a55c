//! What `waitpid` reported, classified: [`Stop`] and the `PTRACE_EVENT_*` kinds.

/// `PTRACE_EVENT_*` stops, by name instead of magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PtraceEvent {
    Fork,
    Vfork,
    Clone,
    Exec,
    VforkDone,
    Exit,
    Seccomp,
    /// `PTRACE_EVENT_STOP`: group-stop or `PTRACE_INTERRUPT` of a seized tracee.
    Stop,
    Other(i32),
}

impl PtraceEvent {
    pub(super) fn from_raw(e: i32) -> Self {
        match e {
            libc::PTRACE_EVENT_FORK => Self::Fork,
            libc::PTRACE_EVENT_VFORK => Self::Vfork,
            libc::PTRACE_EVENT_CLONE => Self::Clone,
            libc::PTRACE_EVENT_EXEC => Self::Exec,
            libc::PTRACE_EVENT_VFORK_DONE => Self::VforkDone,
            libc::PTRACE_EVENT_EXIT => Self::Exit,
            libc::PTRACE_EVENT_SECCOMP => Self::Seccomp,
            libc::PTRACE_EVENT_STOP => Self::Stop,
            other => Self::Other(other),
        }
    }
}

/// What `waitpid` reported about one tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Exited(i32),
    Killed {
        signo: i32,
        core: bool,
    },
    /// Syscall-entry or -exit stop (`SIGTRAP | 0x80`, thanks to `PTRACE_O_TRACESYSGOOD`).
    Syscall,
    Event {
        event: PtraceEvent,
        signo: i32,
    },
    /// Signal-delivery stop, or group-stop of a non-seized tracee.
    Signal(i32),
}

impl Stop {
    pub(super) fn from_status(status: i32) -> Self {
        if libc::WIFEXITED(status) {
            Stop::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Stop::Killed {
                signo: libc::WTERMSIG(status),
                core: libc::WCOREDUMP(status),
            }
        } else {
            let signo = libc::WSTOPSIG(status);
            let event = status >> 16;
            if signo == libc::SIGTRAP | 0x80 {
                Stop::Syscall
            } else if event != 0 {
                Stop::Event {
                    event: PtraceEvent::from_raw(event),
                    signo,
                }
            } else {
                Stop::Signal(signo)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_classify_into_stops() {
        assert_eq!(Stop::from_status(3 << 8), Stop::Exited(3));
        assert_eq!(
            Stop::from_status(libc::SIGSEGV | 0x80),
            Stop::Killed {
                signo: 11,
                core: true
            }
        );
        assert_eq!(Stop::from_status(0x857f), Stop::Syscall);
        assert_eq!(Stop::from_status(0x117f), Stop::Signal(libc::SIGCHLD));
        assert_eq!(
            Stop::from_status((libc::PTRACE_EVENT_CLONE << 16) | 0x057f),
            Stop::Event {
                event: PtraceEvent::Clone,
                signo: libc::SIGTRAP
            }
        );
        assert_eq!(
            Stop::from_status((libc::PTRACE_EVENT_STOP << 16) | 0x137f),
            Stop::Event {
                event: PtraceEvent::Stop,
                signo: libc::SIGSTOP
            }
        );
    }
}
