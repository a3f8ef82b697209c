//! `kinga` — the command-line entry point. Thin: it parses arguments and calls the library.

fn main() {
    println!("kinga {}: the service subcommands arrive with the storage and HTTP layers", env!("CARGO_PKG_VERSION"));
}
