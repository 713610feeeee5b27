//! Interruption: SIGINT and SIGTERM (Ctrl-C and Ctrl-Break on Windows) end the wait at once, so that the
//! outputs can still be written before the CI kills the step.
//!
//! The handlers are installed by [`listen`] at the very start of a run, before the slow parts of setting
//! up (reading the system's CA certificates takes a while): a signal that comes in the first
//! milliseconds is held until the run asks for it, instead of killing the process with no outputs.

/// The stop signals, caught from the moment [`listen`] returned; `None` when they could not be.
#[cfg(unix)]
pub struct Listener(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

/// The stop signals, caught from the moment [`listen`] returned; `None` when they could not be.
#[cfg(windows)]
pub struct Listener(
    Option<(
        tokio::signal::windows::CtrlC,
        tokio::signal::windows::CtrlBreak,
    )>,
);

/// Catch the stop signals from now on. Must be called inside the runtime.
#[cfg(unix)]
pub fn listen() -> Listener {
    use tokio::signal::unix::{signal, SignalKind};
    let int = signal(SignalKind::interrupt()).ok();
    let term = signal(SignalKind::terminate()).ok();
    Listener(int.zip(term))
}

/// Catch the stop signals from now on. Must be called inside the runtime.
#[cfg(windows)]
pub fn listen() -> Listener {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    Listener(ctrl_c().ok().zip(ctrl_break().ok()))
}

/// Resolves when the process is next asked to stop, listening from this call on: for a second signal
/// while the first is being handled.
pub async fn interrupted() -> i32 {
    listen().interrupted().await
}

impl Listener {
    /// Resolves with the signal's number (SIGINT 2, SIGTERM 15; on Windows Ctrl-C 2, Ctrl-Break 21)
    /// when the process is asked to stop, at once for a signal that came before; never when the
    /// handlers could not be installed.
    pub async fn interrupted(self) -> i32 {
        let Some((mut first, mut second)) = self.0 else {
            return std::future::pending().await;
        };
        #[cfg(unix)]
        let numbers = (2, 15);
        #[cfg(windows)]
        let numbers = (2, 21);
        tokio::select! {
            _ = first.recv() => numbers.0,
            _ = second.recv() => numbers.1,
        }
    }
}
