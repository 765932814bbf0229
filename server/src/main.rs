//! `licet-server`: see `licet-server --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = licet_server::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(licet_server::run(cli))
}
