//! Kernel features taken away from a test's thread and the servers it starts, as
//! on an older kernel: a seccomp filter that fails chosen `io_uring_register(2)`
//! opcodes with `EINVAL`.

/// `io_uring_register(2)`'s opcode that registers a sparse table of files.
pub const IORING_REGISTER_FILES2: u32 = 13;
/// `io_uring_register(2)`'s opcode that registers ring descriptors with a thread.
pub const IORING_REGISTER_RING_FDS: u32 = 20;
/// `io_uring_register(2)`'s opcode that registers a provided-buffer ring.
pub const IORING_REGISTER_PBUF_RING: u32 = 22;
/// Offset of the low word of a system call's second argument in `seccomp_data`
/// (`nr`, `arch`, `instruction_pointer`, then the arguments, little-endian).
const SECCOMP_DATA_ARG1_LOW: u32 = 24;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Makes `io_uring_register(2)` with any of `opcodes` fail with `EINVAL` for the
/// calling thread and every process it starts from now on (glommio's own rings
/// register none of those here).
pub fn forbid_ring_registrations(opcodes: &[u32]) {
    let n = opcodes.len() as u8;
    let mut filter = vec![
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // Any other system call: to the last but one instruction, allow.
        jeq(libc::SYS_io_uring_register as u32, 0, n + 1),
        stmt(
            libc::BPF_LD | libc::BPF_W | libc::BPF_ABS,
            SECCOMP_DATA_ARG1_LOW,
        ),
    ];
    // Each match jumps to the last instruction, the error.
    filter.extend((0..n).map(|i| jeq(opcodes[i as usize], n - i, 0)));
    filter.push(stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW));
    filter.push(stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32,
    ));
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl(2) with plain integers, then with a filter program that lives
    // across the call (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}
