//! Interruption: SIGINT and SIGTERM (Ctrl-C and Ctrl-Break on Windows) end the wait at once, so that the
//! outputs can still be written before the CI kills the step.

/// Resolves with the signal's number when the process is asked to stop.
#[cfg(unix)]
pub async fn interrupted() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}

/// Resolves with the signal's number when the process is asked to stop (SIGINT 2, SIGBREAK 21).
#[cfg(windows)]
pub async fn interrupted() -> i32 {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let (Ok(mut c), Ok(mut brk)) = (ctrl_c(), ctrl_break()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = c.recv() => 2,
        _ = brk.recv() => 21,
    }
}
