//! The command line: with no arguments the program runs from the environment, as CI calls it.

use crate::config::Env;

const HELP: &str = "\
marketplace-publish: publish an Azure Marketplace offer from CI

USAGE:
    marketplace-publish            run from MARKETPLACE_* environment variables (see the README)
    marketplace-publish --version
    marketplace-publish --help
";

/// Run the binary with `args` (without the program name); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        None => block_on(crate::run::run(
            &Env::from_process(),
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )),
        Some("--version" | "-V") => {
            println!("marketplace-publish {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("--help" | "-h") => {
            print!("{HELP}");
            0
        }
        Some(other) => {
            eprintln!("marketplace-publish: unknown argument '{other}'\n\n{HELP}");
            2
        }
    }
}

/// A single-threaded runtime: the program waits on the network almost all the time, and one thread
/// starts faster and uses less memory than a pool.
fn block_on<F: std::future::Future<Output = i32>>(future: F) -> i32 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime can be built")
        .block_on(future)
}
