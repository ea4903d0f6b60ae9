//! The log: Redis's `loglevel` names onto `log` levels, lines to stderr with the
//! time and the process id.

use crate::runtime::clock::now_ms;

struct Logger {
    level: log::LevelFilter,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let ms = now_ms();
            eprintln!(
                "{}.{:03} {} {} {}",
                ms / 1000,
                ms % 1000,
                std::process::id(),
                r.level(),
                r.args()
            );
        }
    }
    fn flush(&self) {}
}

/// Installs the logger at Redis's `loglevel`.
pub fn init_logging(level: &str) {
    let level = match level {
        "debug" => log::LevelFilter::Debug,
        "verbose" => log::LevelFilter::Info,
        "notice" => log::LevelFilter::Info,
        _ => log::LevelFilter::Warn,
    };
    let logger = Box::leak(Box::new(Logger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
