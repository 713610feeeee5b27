//! The command line as a person types it: help in every spelling, wrong arguments refused, the demo
//! and the simulator doing what they say, and output into a closed pipe.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{output_within, run, set, WATCHDOG};

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
        (&["demo", "--help"], "preview-ready"),
        (&["help", "demo"], "preview-ready"),
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
fn the_demo_stops_at_preview_ready_as_a_real_publish_does() {
    let demo = binary(&["demo"], Stdout::Read);
    let stdout = text(&demo.stdout);
    assert_eq!(demo.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("(scenario 'preview')"), "{stdout}");
    assert!(stdout.contains("\noutcome=preview-ready\n"), "{stdout}");
}

#[test]
fn the_demo_into_a_closed_pipe_ends_without_a_panic() {
    let demo = binary(&["demo"], Stdout::Closed);
    let stderr = text(&demo.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(demo.status.code(), Some(0), "{stderr}");
}

#[test]
fn what_simulate_prints_is_enough_to_publish_to_it() {
    let mut simulator = Command::new(env!("CARGO_BIN_EXE_marketplace-publish"))
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            "preview",
        ])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator runs");
    let mut lines = BufReader::new(simulator.stdout.take().unwrap()).lines();
    let mut env = vec![("GITHUB_ACTIONS".to_string(), "true".to_string())];
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            set(&mut env, name, value);
        } else if line.is_empty() && env.len() > 1 {
            break;
        }
    }
    let run = run(&env);
    let _ = simulator.kill();
    let _ = simulator.wait();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.output("outcome"), "preview-ready");
}
