//! The ring's table of files: a connection's socket is registered there for its
//! life, at the slot of its descriptor's number (see `setup::register_file_table`),
//! and its operations name it by slot.

use super::{Conn, Driver};

impl Driver {
    /// Puts the connection's socket in the ring's table of files if its slot is
    /// there: its operations from now on name it by slot. Before its first
    /// operation; undone by [`unregister`](Self::unregister).
    pub fn register(&self, conn: &Conn) {
        let Ok(slot) = u32::try_from(conn.fd) else {
            return;
        };
        if slot >= self.files {
            return;
        }
        let ring = self.ring.borrow();
        if let Ok(1) = ring.submitter().register_files_update(slot, &[conn.fd]) {
            conn.fixed.set(true);
        }
    }

    /// Takes the connection's socket out of the ring's table, once its last
    /// operation ended: the table holds the socket open until then, whoever
    /// closes its descriptor.
    pub fn unregister(&self, conn: &Conn) {
        if conn.fixed.replace(false) {
            let ring = self.ring.borrow();
            if let Err(e) = ring
                .submitter()
                .register_files_update(conn.fd as u32, &[-1])
            {
                log::warn!("io_uring: a socket stays in the ring's table: {e}");
            }
        }
    }
}
