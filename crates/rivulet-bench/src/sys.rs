//! The few system calls the harness needs: pinning a thread to a core, reading a
//! thread's CPU clock, raising the open-file limit and reading a process's RSS.

use std::time::Duration;

/// Pins the calling thread to `core` (modulo the cores we may run on). Returns
/// false where the kernel refuses, and the benchmark then runs unpinned.
pub fn pin_to_core(core: usize) -> bool {
    let cores = available_cores();
    if cores.len() < 2 {
        return false;
    }
    let cpu = cores[core % cores.len()];
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// The cores this process may run on.
pub fn available_cores() -> Vec<usize> {
    // SAFETY: as above; sched_getaffinity fills the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// The CPU clock of one thread; readable from any thread of the process.
#[derive(Clone, Copy, Debug)]
pub struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The clock of the calling thread.
    pub fn current() -> ThreadClock {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: pthread_self is always valid and the out pointer is ours.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        assert_eq!(rc, 0, "pthread_getcpuclockid");
        ThreadClock(clock)
    }

    /// CPU time (user + system) the thread has used so far.
    pub fn elapsed(self) -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: the clock id came from pthread_getcpuclockid; ts is ours.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }
}

/// Raises the soft open-file limit to the hard one; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur
    }
}

/// Resident set size of process `pid` in bytes, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// Peak resident set size (`VmHWM`) of process `pid` in bytes.
pub fn peak_rss_bytes(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM:")
}

/// A `kB` field of `/proc/<pid>/status`, in bytes (0 if it cannot be read).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Lets a child process run on every core we may use, whatever core the
/// spawning thread is pinned to (affinity is inherited across fork).
pub fn unpin_on_exec(command: &mut std::process::Command) {
    let cores = available_cores();
    // SAFETY: the closure runs between fork and exec and only makes the
    // async-signal-safe sched_setaffinity system call on a set built before.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cores {
            libc::CPU_SET(cpu, &mut set);
        }
        std::os::unix::process::CommandExt::pre_exec(command, move || {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        });
    }
}

/// Gives the calling thread the highest `nice` priority (-20) when allowed
/// (root), so that on a shared machine other work preempts the measured
/// threads less often. Returns false where the kernel refuses.
pub fn raise_priority() -> bool {
    // SAFETY: gettid and setpriority take and return plain integers.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, -20) == 0
    }
}

/// Puts thread `tid` (0: the caller) under `SCHED_FIFO` or back to the normal
/// scheduler. Real-time priority keeps other processes on a shared machine
/// from preempting the measured threads; every thread it is used on sleeps
/// between packets, and the kernel's real-time throttling bounds it anyway.
pub fn set_realtime(tid: i32, on: bool) -> bool {
    let param = libc::sched_param {
        sched_priority: if on { 10 } else { 0 },
    };
    let policy = if on {
        libc::SCHED_FIFO
    } else {
        libc::SCHED_OTHER
    };
    // SAFETY: plain system call on a struct we own.
    unsafe { libc::sched_setscheduler(tid, policy, &param) == 0 }
}

/// The calling thread's id.
pub fn thread_id() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Whether a [`Realtime`] is active: threads started meanwhile join it.
static REALTIME: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prepares a thread that sleeps to pace packets: 1 µs timer slack (the
/// default 50 µs would blur the schedule), and the scheduling of the measured
/// threads: a pacer preempted by other work sends late, and its lateness
/// counts against the result.
pub fn prepare_latency_thread() {
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    if !(REALTIME.load(std::sync::atomic::Ordering::Relaxed) && set_realtime(0, true)) {
        raise_priority();
    }
}

/// Real-time scheduling for the server thread and the calling (client) thread
/// while it lives; both go back to the normal scheduler when it is dropped.
pub struct Realtime {
    server: i32,
    /// False where the kernel refused (not root): normal scheduling.
    pub active: bool,
}

impl Realtime {
    pub fn enter(server: i32) -> Realtime {
        let wanted = std::env::var_os("RIVULET_BENCH_NO_REALTIME").is_none();
        let active = wanted && set_realtime(server, true) && set_realtime(0, true);
        REALTIME.store(active, std::sync::atomic::Ordering::Relaxed);
        Realtime { server, active }
    }

    /// How the measured threads were scheduled, for the report.
    pub fn describe(&self) -> &'static str {
        if self.active {
            "threads under SCHED_FIFO"
        } else {
            "normal scheduling at nice -20 (no SCHED_FIFO)"
        }
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        REALTIME.store(false, std::sync::atomic::Ordering::Relaxed);
        set_realtime(self.server, false);
        set_realtime(0, false);
    }
}
