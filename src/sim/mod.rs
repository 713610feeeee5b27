//! A simulated Cloud Partner Portal and Product Ingestion API (under `/rp/product-ingestion`), with
//! Entra's token endpoint and GitHub's OIDC endpoint beside them: a real HTTP server on a loopback port,
//! so that tests and the demo drive the real client over real sockets, faults included.
//!
//! [`plan`] says what to simulate; `portal` behaves, with `operation` (the walk of steps), `ingestion`
//! (the Product Ingestion API) and `identity` (Entra and GitHub OIDC) beside it; [`http`] speaks
//! HTTP/1.1. A [`Simulator`] serves on a task of the caller's runtime ([`Simulator::start`]) or on a
//! thread of its own ([`Simulator::start_in_thread`], for synchronous tests that run the binary), records
//! every request, and stops when dropped. [`run_blocking`] serves until the process is killed, for a
//! `simulate` command.

/// The hand-written HTTP/1.1 layer; public for the recorded [`http::Request`].
pub mod http;
mod identity;
mod ingestion;
#[cfg(test)]
mod ingestion_tests;
mod operation;
/// The fault plan and the named scenarios.
pub mod plan;
mod portal;
mod stamp;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Where the Product Ingestion API lives on the simulator, for `MARKETPLACE_API_BASE`.
pub use ingestion::PREFIX as INGESTION_PREFIX;
/// What a test or the `simulate` command needs at hand.
pub use plan::{scenario, Plan, Route, SCENARIOS};

use http::{Delivery, Request};
use portal::Portal;

/// One request the simulator received, for tests to count and inspect. Nothing is redacted: tests check
/// that the token went where it should, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The route it matched, or `None` for a path the simulator does not know.
    pub route: Option<Route>,
    /// The request exactly as received.
    pub request: Request,
}

/// A running simulator. Dropping it stops the server and closes its connections.
pub struct Simulator {
    base_url: String,
    portal: Arc<Portal>,
    stop: watch::Sender<bool>,
    /// The server's own runtime thread, when it has one.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Simulator {
    /// Serves `plan` on a free loopback port, on a task of the current tokio runtime.
    pub async fn start(plan: Plan) -> io::Result<Simulator> {
        Simulator::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), plan).await
    }

    /// Serves `plan` on `addr`, on a task of the current tokio runtime.
    pub async fn start_on(addr: SocketAddr, plan: Plan) -> io::Result<Simulator> {
        let listener = TcpListener::bind(addr).await?;
        let (simulator, server) = Simulator::launch(listener, plan, false)?;
        tokio::spawn(server);
        Ok(simulator)
    }

    /// Serves `plan` on a free loopback port from a thread with its own runtime, so that a synchronous
    /// test can run the real binary against it. Callable from inside a runtime too.
    pub fn start_in_thread(plan: Plan) -> io::Result<Simulator> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let (mut simulator, server) = Simulator::launch(listener, plan, false)?;
        let thread = std::thread::Builder::new()
            .name("marketplace-sim".into())
            .spawn(move || runtime.block_on(server))?;
        simulator.thread = Some(thread);
        Ok(simulator)
    }

    /// The simulator's origin, like `http://127.0.0.1:PORT`: the API base, the Entra authority, and (with
    /// `/oidc/token`) the OIDC request URL all at once.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.portal.requests()
    }

    /// How many requests went to the route named `route` (`publish`, `operation`, `token`, ...).
    pub fn count(&self, route: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.route.map(Route::name) == Some(route))
            .count()
    }

    /// The location path and query of every operation made so far (plus the one `start` set up), to pass
    /// as `MARKETPLACE_OPERATION`.
    pub fn operation_locations(&self) -> Vec<String> {
        self.portal.operation_locations()
    }

    fn launch(
        listener: TcpListener,
        plan: Plan,
        trace: bool,
    ) -> io::Result<(Simulator, impl Future<Output = ()>)> {
        let bound = listener.local_addr()?;
        let port = bound.port();
        let base_url = origin(bound);
        let foreign = format!("http://localhost:{port}");
        let portal = Arc::new(Portal::new(plan, base_url.clone(), foreign));
        let (stop, stopped) = watch::channel(false);
        let server = serve(listener, portal.clone(), stopped, trace);
        let simulator = Simulator {
            base_url,
            portal,
            stop,
            thread: None,
        };
        Ok((simulator, server))
    }
}

/// The origin a client reaches a simulator bound to `bound` at.
fn origin(mut bound: SocketAddr) -> String {
    if bound.ip().is_unspecified() {
        // Bound to every interface: loopback is the one address sure to reach it.
        bound.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{bound}")
}

impl Drop for Simulator {
    fn drop(&mut self) {
        // Receivers also wake when the sender goes, but the thread must be told before it is joined.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `plan` on `addr` until the process gets SIGINT or is killed: the first line on stdout is the
/// base URL (scripts read it), then what a person needs to run the program against it; one line per
/// exchange goes to stderr. For the CLI's `simulate` subcommand. A closed stdout or stderr does not
/// stop the server.
pub fn run_blocking(addr: SocketAddr, plan: Plan) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        let guide = guide(&plan, &listener.local_addr()?);
        let (simulator, server) = Simulator::launch(listener, plan, true)?;
        let mut stdout = io::stdout().lock();
        let _ = writeln!(stdout, "{}\n{guide}", simulator.base_url()).and_then(|()| stdout.flush());
        drop(stdout);
        tokio::select! {
            () = server => Ok(()),
            interrupted = tokio::signal::ctrl_c() => interrupted,
        }
    })
}

/// How to run the program against the simulator at `bound`: the variables to export (its token, or
/// its Entra application when the plan accepts no token, and its ids), polling short enough for a
/// publish to end in seconds, and the two that switch to its Product Ingestion API.
fn guide(plan: &Plan, bound: &SocketAddr) -> String {
    let base = origin(*bound);
    let mut lines = vec![format!("MARKETPLACE_API_BASE={base}")];
    match plan.auth.tokens.first() {
        Some(token) => lines.push(format!("MARKETPLACE_TOKEN={token}")),
        None => lines.extend([
            format!("MARKETPLACE_AUTHORITY_HOST={base}"),
            format!("MARKETPLACE_TENANT_ID={}", plan.auth.tenant),
            format!("MARKETPLACE_CLIENT_ID={}", plan.auth.client_id),
            format!("MARKETPLACE_CLIENT_SECRET={}", plan.auth.client_secret),
        ]),
    }
    lines.extend([
        format!("MARKETPLACE_PUBLISHER_ID={}", plan.publisher),
        format!("MARKETPLACE_OFFER_ID={}", plan.offer),
        "MARKETPLACE_POLL_INTERVAL=1s".to_string(),
        "MARKETPLACE_POLL_MAX_INTERVAL=1s".to_string(),
    ]);
    let exports: String = lines
        .iter()
        .map(|line| format!("export {line}\n"))
        .collect();
    format!(
        "The simulated portal is listening; Ctrl-C stops it. To publish to it, run marketplace-publish\n\
         in another shell with these variables (one status read a second, so a publish ends in seconds):\n\n\
         {exports}\n\
         For its Product Ingestion API (the pi-* scenarios), also:\n\n\
         export MARKETPLACE_API=product-ingestion MARKETPLACE_API_BASE={base}{INGESTION_PREFIX}\n\n"
    )
}

async fn serve(
    listener: TcpListener,
    portal: Arc<Portal>,
    mut stopped: watch::Receiver<bool>,
    trace: bool,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, say: give the system a moment instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                // Answers go out at once, as a server's do, not after the client's delayed ACK.
                let _ = stream.set_nodelay(true);
                let portal = portal.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = stopped.changed() => {}
                        () = exchange(stream, &portal, trace) => {}
                    }
                });
            }
        }
    }
}

/// One connection: requests answered in turn as the plan delivers them, until the client closes it,
/// asks to close it, or an answer is a fault on the wire.
async fn exchange(mut stream: TcpStream, portal: &Portal, trace: bool) {
    let mut buf = Vec::new();
    loop {
        let (line, response, delivery, close) =
            match http::read_request(&mut stream, &mut buf).await {
                Ok(request) => {
                    let line = format!("{} {}", request.method, request.target);
                    let close = request.wants_close();
                    let (response, delivery) = portal.handle(request);
                    (line, response, delivery, close)
                }
                Err(error) => match error.response() {
                    Some(response) => (format!("{error:?}"), response, Delivery::default(), true),
                    None => return,
                },
            };
        if trace {
            let faults = match delivery == Delivery::default() {
                true => String::new(),
                false => format!(" {delivery:?}"),
            };
            let _ = writeln!(io::stderr(), "{line} -> {}{faults}", response.status);
        }
        if !http::deliver(&mut stream, &response, delivery, !close).await {
            return;
        }
    }
}
