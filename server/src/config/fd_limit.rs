//! `CONFIG SET maxclients` against the process's open-file limit, as Redis 7.0's
//! `adjustOpenFilesLimit` judges it: raising `maxclients` raises `RLIMIT_NOFILE`
//! as far as the system lets the process, and a number of clients no limit it can
//! get holds is refused with the number it can hold.

/// File descriptors kept for the server's own files beyond its clients (Redis's
/// `CONFIG_MIN_RESERVED_FDS`).
const RESERVED_FDS: u32 = 32;
/// Redis lowers the limit it asks for by this much after each refusal, so the limit
/// it ends with is the wanted one less a multiple of this step.
const LIMIT_STEP: u64 = 16;
/// The kernel's ceiling for any open-file limit; only a privileged process may
/// raise its hard limit towards it.
const NR_OPEN_PATH: &str = "/proc/sys/fs/nr_open";

/// Makes room for `clients` connections: `Ok` when the open-file limit holds them
/// (raised if need be), else Redis's text naming the most it can hold.
pub(super) fn admit_clients(clients: u32) -> Result<(), String> {
    // Redis adds in `unsigned int`: within 32 of `u32::MAX` the sum wraps to a small
    // number the limit always holds, so those values are accepted as Redis accepts them.
    let wanted = u64::from(clients.wrapping_add(RESERVED_FDS));
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    let current = limit.rlim_cur;
    if current >= wanted {
        return Ok(());
    }
    // Redis asks for the wanted limit, then less and less by its step: the first it
    // gets is the largest such value under the ceiling the kernel enforces, which
    // is `nr_open` for a privileged process and the hard limit for any other.
    let nr_open = std::fs::read_to_string(NR_OPEN_PATH)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let under = |ceiling: u64| match wanted <= ceiling {
        true => wanted,
        false => wanted - (wanted - ceiling).div_ceil(LIMIT_STEP) * LIMIT_STEP,
    };
    let best = nr_open
        .into_iter()
        .chain([limit.rlim_max])
        .map(under)
        .filter(|&best| best > current)
        .find(|&best| {
            let raised = libc::rlimit {
                rlim_cur: best,
                rlim_max: best,
            };
            // SAFETY: `raised` is a valid `rlimit`.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 }
        })
        .unwrap_or(current);
    match best >= wanted {
        true => Ok(()),
        false => Err(format!(
            "The operating system is not able to handle the specified number of clients, try with {}",
            best.saturating_sub(u64::from(RESERVED_FDS))
        )),
    }
}
