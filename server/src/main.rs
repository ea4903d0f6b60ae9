//! The corekv-server binary: everything lives in the library ([`corekv_server`]).

fn main() {
    // A panicking executor would leave its peers waiting forever: abort instead.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    std::process::exit(corekv_server::run());
}
