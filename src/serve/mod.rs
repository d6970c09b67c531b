//! `gpuplan serve`: the planner as a local web page and a JSON API. Every answer comes from the same
//! functions the command line calls (`app::fit`, `app::matrix`, `app::compare`, `plan::sizing`) and is
//! rendered by the same `report` code, so `POST /api/fit` returns byte for byte what
//! `gpuplan fit ... --format json` prints. The page (HTML, CSS, JS) is embedded in the binary and
//! loads nothing from elsewhere.

mod api;
mod page;

use crate::cli::ServeArgs;
use crate::spec::Catalog;
use anyhow::{bail, Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use api::State;

/// The largest request body accepted (a config.json or a workload YAML is a few KiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight and returns.
pub fn run(catalog: Catalog, a: &ServeArgs) -> Result<()> {
    if !a.addr.ip().is_loopback() && !a.allow_remote {
        bail!(
            "--addr {}: not a loopback address; the API has no authentication, so anyone who reaches it can use it. Pass --allow-remote to listen there anyway",
            a.addr
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("--addr {}", a.addr))?;
        let addr = listener.local_addr()?;
        eprintln!("gpuplan serve: listening on http://{addr}/ (Ctrl-C stops)");
        serve(listener, app(State::new(catalog)?, Router::new()), shutdown_signal()).await?;
        eprintln!("gpuplan serve: stopped");
        Ok(())
    })
}

/// The page and the API, plus `extra` routes (tests add a handler that panics), behind the body
/// limit and the panic guard.
pub fn app(state: State, extra: Router<Arc<State>>) -> Router {
    api::routes()
        .merge(page::routes())
        .merge(extra)
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(api::panic_response))
        .with_state(Arc::new(state))
}

/// Accepts connections on `listener` until `shutdown` resolves, then drains the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// A server on a background thread (tests and the load benchmark): its address, and a handle that
/// stops it.
pub struct Background {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Background {
    /// Starts `app` on 127.0.0.1 (a free port) with `workers` runtime threads.
    pub fn start(app: Router, workers: usize) -> Result<Background> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener)?;
                serve(listener, app, async move {
                    let _ = stopped.await;
                })
                .await
            })
        });
        Ok(Background {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops accepting, finishes the requests in flight, and joins the thread.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => Ok(r?),
            Some(Err(_)) => bail!("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("gpuplan serve: signal received, finishing the requests in flight");
}
