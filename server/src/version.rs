//! The Redis version this server answers as (`INFO server`, `HELLO`).

/// The Redis release whose behaviour is the reference.
pub const REDIS_VERSION: &str = "7.0.15";
