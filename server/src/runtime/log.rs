//! The log: Redis's `loglevel` names onto `log` levels, and lines as Redis writes
//! them, `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message` in local time, where
//! role is `M` (master) or `S` (replica) and level is `.` (debug), `-` (verbose),
//! `*` (notice) or `#` (warning). Lines go to `logfile` (appended) or standard
//! error, and to syslog too with `syslog-enabled yes`.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::shard::global::Global;

/// Redis's `syslog-facility` names.
const FACILITIES: &[(&str, libc::c_int)] = &[
    ("user", libc::LOG_USER),
    ("local0", libc::LOG_LOCAL0),
    ("local1", libc::LOG_LOCAL1),
    ("local2", libc::LOG_LOCAL2),
    ("local3", libc::LOG_LOCAL3),
    ("local4", libc::LOG_LOCAL4),
    ("local5", libc::LOG_LOCAL5),
    ("local6", libc::LOG_LOCAL6),
    ("local7", libc::LOG_LOCAL7),
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Where log lines go, as `logfile`, `syslog-*` and `loglevel` say.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    pub level: String,
    /// Empty: standard error.
    pub file: String,
    pub syslog: bool,
    pub syslog_ident: String,
    pub syslog_facility: String,
}

impl LogSettings {
    /// The settings the configuration names.
    pub fn from_config(config: &crate::config::Config) -> LogSettings {
        LogSettings {
            level: config.get("loglevel"),
            file: config.get("logfile"),
            syslog: config.get("syslog-enabled") == "yes",
            syslog_ident: config.get("syslog-ident"),
            syslog_facility: config.get("syslog-facility"),
        }
    }
}

struct Logger {
    /// `None`: standard error.
    file: Option<Mutex<File>>,
    syslog: bool,
}

/// The server state the role letter is read from, once it exists.
static GLOBAL: OnceLock<Arc<Global>> = OnceLock::new();

/// Lets log lines name the server's role (master or replica).
pub fn set_global(global: Arc<Global>) {
    let _ = GLOBAL.set(global);
}

fn role() -> char {
    match GLOBAL.get() {
        Some(g) if g.repl.is_replica() => 'S',
        _ => 'M',
    }
}

/// Redis's level marks.
fn mark(level: log::Level) -> char {
    match level {
        log::Level::Error | log::Level::Warn => '#',
        log::Level::Info => '*',
        log::Level::Debug => '-',
        log::Level::Trace => '.',
    }
}

fn syslog_priority(level: log::Level) -> libc::c_int {
    match level {
        log::Level::Error | log::Level::Warn => libc::LOG_WARNING,
        log::Level::Info => libc::LOG_NOTICE,
        log::Level::Debug => libc::LOG_INFO,
        log::Level::Trace => libc::LOG_DEBUG,
    }
}

/// `dd Mon yyyy hh:mm:ss.mmm` in local time, as Redis prints it.
pub fn timestamp(unix_ms: u64) -> String {
    let secs = (unix_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r fills the zeroed tm it is given and keeps no pointer.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        unix_ms % 1000
    )
}

/// One log line, without its newline.
pub fn format_line(pid: u32, role: char, unix_ms: u64, level: log::Level, message: &str) -> String {
    format!(
        "{pid}:{role} {} {} {message}",
        timestamp(unix_ms),
        mark(level)
    )
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let message = r.args().to_string();
        let line = format_line(
            std::process::id(),
            role(),
            crate::runtime::clock::now_ms(),
            r.level(),
            &message,
        );
        match &self.file {
            Some(file) => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                let _ = writeln!(file, "{line}");
            }
            None => eprintln!("{line}"),
        }
        if self.syslog {
            if let Ok(text) = CString::new(message) {
                // SAFETY: a constant format string and a NUL-terminated argument.
                unsafe { libc::syslog(syslog_priority(r.level()), c"%s".as_ptr(), text.as_ptr()) };
            }
        }
    }
    fn flush(&self) {}
}

/// Installs the logger. Fails if `logfile` cannot be opened for appending.
pub fn init_logging(settings: &LogSettings) -> Result<(), String> {
    let level = crate::config::level_filter(&settings.level);
    let file = if settings.file.is_empty() {
        None
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&settings.file)
            .map_err(|e| format!("Can't open the log file {}: {e}", settings.file))?;
        Some(Mutex::new(file))
    };
    if settings.syslog {
        let facility = FACILITIES
            .iter()
            .find(|(name, _)| *name == settings.syslog_facility)
            .map_or(libc::LOG_LOCAL0, |(_, f)| *f);
        let ident = CString::new(settings.syslog_ident.as_str())
            .map_err(|_| "syslog-ident holds a NUL byte".to_string())?;
        // openlog keeps the pointer: the identity lives as long as the process.
        let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
        // SAFETY: a NUL-terminated identity that is never freed.
        unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, facility) };
    }
    let logger = Box::leak(Box::new(Logger {
        file,
        syslog: settings.syslog,
    }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
        let _ = INSTALLED.set(());
    }
    Ok(())
}

/// Set once [`init_logging`] installed the logger.
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Reports a start-up failure: to the log once it is installed, else standard error.
pub fn fatal(message: &str) {
    if INSTALLED.get().is_some() {
        log::error!("{message}");
    } else {
        eprintln!("corekv-server: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_redis_s() {
        let line = format_line(42, 'M', 1_764_629_000_123, log::Level::Info, "hello");
        let (head, rest) = line.split_once(' ').unwrap();
        assert_eq!(head, "42:M");
        let words: Vec<&str> = rest.split(' ').collect();
        assert_eq!(words.len(), 6, "{line}");
        assert_eq!(words[0].len(), 2);
        assert!(MONTHS.contains(&words[1]), "{line}");
        assert!(words[3].ends_with(".123") && words[3].len() == 12, "{line}");
        assert_eq!(&words[4..], ["*", "hello"]);
        assert_eq!(mark(log::Level::Warn), '#');
        assert_eq!(
            crate::config::level_filter("verbose"),
            log::LevelFilter::Debug
        );
    }
}
