//! What `/proc` shows of a server process: its open descriptors, and what the
//! kernel says of each of its io_uring rings.

/// The process's open descriptors.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The `/proc/PID/fdinfo` text of each of the process's io_uring rings.
pub fn ring_fdinfos(pid: u32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().contains("io_uring"))
        })
        .filter_map(|entry| {
            let fd = entry.file_name();
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy())).ok()
        })
        .collect()
}
