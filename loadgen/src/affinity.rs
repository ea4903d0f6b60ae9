//! `--cpus` lists and pinning worker threads to them.

use crate::limits::THREADS_MAX;
use std::io;

/// Parses `0-3,6,8-9` into CPU numbers, in the order given.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let cpu_count_max = libc::CPU_SETSIZE as usize;
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|&cpu| cpu < cpu_count_max)
                .ok_or_else(|| format!("'{s}' in --cpus is not a CPU number below {cpu_count_max}"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(format!("CPU range '{part}' runs backwards"));
        }
        cpus.extend(first..=last);
        if cpus.len() > THREADS_MAX {
            return Err(format!("--cpus lists more than {THREADS_MAX} CPUs"));
        }
    }
    if cpus.is_empty() {
        return Err("--cpus lists no CPU".to_string());
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    assert!(cpu < libc::CPU_SETSIZE as usize);
    // SAFETY: `cpu_set_t` is plain data for which all-zero bytes is the empty set, and
    // `CPU_SET` writes inside it because `cpu` is below `CPU_SETSIZE`.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        assert_eq!(parse_cpu_list("0-3,6, 8-9").unwrap(), [0, 1, 2, 3, 6, 8, 9]);
        assert_eq!(parse_cpu_list("1").unwrap(), [1]);
        for bad in ["", "x", "3-1", "0-99999", "-1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad}");
        }
    }

    /// The CPUs the calling thread may run on.
    fn allowed_cpus() -> Vec<usize> {
        // SAFETY: all-zero bytes is a valid empty `cpu_set_t`, which the call fills.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            let rc = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            assert_eq!(rc, 0);
            set
        };
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below CPU_SETSIZE.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    }

    /// Pinning to each allowed CPU leaves the thread allowed on that CPU only, read
    /// back with `sched_getaffinity`.
    #[test]
    fn pins_to_an_allowed_cpu() {
        for cpu in allowed_cpus() {
            let after = std::thread::spawn(move || {
                pin_current_thread(cpu).unwrap();
                allowed_cpus()
            })
            .join()
            .unwrap();
            assert_eq!(after, vec![cpu]);
        }
    }
}
