//! The framework's ceiling for benchmarks: a warp server whose only route parses a JSON body
//! and echoes it back, with nothing else (no database, no signing).
//!
//! `cargo run --release -p licet-server --example echo -- 127.0.0.1:8788`

use warp::Filter;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8788".into());
    let echo = warp::path!("echo")
        .and(warp::post())
        .and(warp::body::content_length_limit(16 * 1024))
        .and(warp::body::json())
        .map(|body: serde_json::Value| warp::reply::json(&body));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("echo listening on http://{}", listener.local_addr()?);
    warp::serve(echo).incoming(listener).run().await;
    Ok(())
}
