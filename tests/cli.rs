//! The command line as a person types it: help in every spelling, wrong arguments refused, and output
//! into a closed pipe.

mod common;

use std::process::{Command, Stdio};

use common::{output_within, WATCHDOG};

/// How the binary's stdout is read.
#[derive(PartialEq)]
enum Stdout {
    Read,
    /// A pipe whose reading end is closed before the binary writes, as after `| head -0`.
    Closed,
}

/// The binary with `args`, no inherited environment, and a watchdog.
fn binary(args: &[&str], stdout: Stdout) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketplace-publish"))
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if stdout == Stdout::Closed {
        drop(child.stdout.take());
    }
    output_within(child, WATCHDOG)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_comes_in_every_spelling() {
    let full = binary(&["--help"], Stdout::Read);
    assert_eq!(full.status.code(), Some(0));
    let full = text(&full.stdout);
    for section in [
        "USAGE:",
        "INPUTS",
        "MARKETPLACE_OFFER_ID",
        "OUTPUTS",
        "EXIT CODES:",
    ] {
        assert!(full.contains(section), "{section} missing:\n{full}");
    }
    for args in [&["help"][..], &["-h"]] {
        let same = binary(args, Stdout::Read);
        assert_eq!(
            (same.status.code(), text(&same.stdout)),
            (Some(0), full.clone()),
            "{args:?}"
        );
    }
    for (args, says) in [
        (&["simulate", "--help"][..], "--listen ADDR"),
        (&["simulate", "--scenario", "failed", "-h"], "--listen ADDR"),
        (&["help", "simulate"], "--listen ADDR"),
        (&["demo", "--help"], "$GITHUB_OUTPUT"),
        (&["help", "demo"], "$GITHUB_OUTPUT"),
    ] {
        let help = binary(args, Stdout::Read);
        assert_eq!(help.status.code(), Some(0), "{args:?}");
        assert!(text(&help.stdout).contains(says), "{args:?}");
    }
}

#[test]
fn wrong_arguments_are_refused_with_where_to_look() {
    for (args, says) in [
        (
            &["demo", "happy", "extra"][..],
            "demo: unexpected argument 'extra'; see 'marketplace-publish demo --help'",
        ),
        (&["demo", "nope"], "unknown scenario 'nope'"),
        (
            &["publish"],
            "unknown command or option 'publish'; see 'marketplace-publish --help'",
        ),
        (
            &["simulate", "--listen"],
            "simulate: --listen needs a value",
        ),
        (
            &["simulate", "--port", "1"],
            "simulate: unknown option '--port'",
        ),
        (&["help", "publish"], "help: no command 'publish'"),
        (&["--version", "x"], "unexpected argument 'x'"),
    ] {
        let refused = binary(args, Stdout::Read);
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            text(&refused.stderr).contains(says),
            "{args:?}: {}",
            text(&refused.stderr)
        );
        assert!(refused.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_demo_into_a_closed_pipe_ends_without_a_panic() {
    let demo = binary(&["demo"], Stdout::Closed);
    let stderr = text(&demo.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(demo.status.code(), Some(0), "{stderr}");
}
