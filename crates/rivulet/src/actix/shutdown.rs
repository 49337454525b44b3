//! A graceful stop of an actix-web server that ends its streams with the
//! shutting-down packet.

use std::time::Duration;

use actix_web::dev::ServerHandle;

use crate::shutdown::Shutdown;

/// Stops `server` gracefully: new streams are refused at once (`503` with
/// `Retry-After`), running ones get `grace` to end on their own, then end
/// with the error packet saying the server is shutting down (status 503),
/// and actix-web's graceful stop waits for their connections to close.
///
/// The streams must know `shutdown`: name it in the app's
/// [`Config`](crate::Config) (`Config::default().shutdown(&shutdown)`), or
/// give it as app data. actix-web cuts connections after its own
/// `HttpServer::shutdown_timeout` (30 s by default): keep `grace` below it.
/// Start the server with `disable_signals()` and call this on the signal.
pub async fn stop(server: &ServerHandle, shutdown: &Shutdown, grace: Duration) {
    shutdown.stop();
    let stopped = server.stop(true);
    tokio::pin!(stopped);
    tokio::select! {
        () = &mut stopped => return,
        () = tokio::time::sleep(grace) => {}
    }
    shutdown.end_streams();
    stopped.await;
}
