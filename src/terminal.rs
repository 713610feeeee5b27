//! Writing to the terminal for the command line, the demo and the simulator: a reader that has gone
//! (`demo | head -3`) is no reason to fail, let alone to panic as `println!` does.

use std::io::Write;

/// Write to stdout; a reader that has gone (a closed pipe) is no reason to fail.
pub fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Write to stderr, the same way.
pub fn complain(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
