//! `kapi`: the command line. Thin: parse, load config, call the library.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use kapi::{
    Application,
    config::{CliOverrides, Settings},
    merchants::{self, NewMerchant},
    startup,
};
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(
    name = "kapi",
    version,
    about = "Kapı — hosted secure payment page with 3-D Secure"
)]
struct Cli {
    /// TOML configuration file (values may also come from KAPI__SECTION__KEY variables).
    #[arg(long, global = true, env = "KAPI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the payment page server.
    Serve(ServeArgs),
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on, HOST:PORT.
    #[arg(long)]
    listen: Option<String>,
    /// Folder for the database and, without a configured master key, the key file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Base URL browsers and the ACS use to reach Kapı (default http://HOST:PORT).
    #[arg(long)]
    public_url: Option<String>,
    /// Create the demo merchant and serve the demo shop on the next port.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Register a merchant; prints its id and secret key (shown once).
    Add(AddArgs),
}

#[derive(Args)]
struct AddArgs {
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Shop name shown to shoppers.
    #[arg(long)]
    name: String,
    /// Origin (scheme://host[:port]) that ok/fail/callback URLs may use; repeatable.
    #[arg(long = "return-origin", required = true)]
    return_origins: Vec<String>,
    /// Print only {"merchant_id": …, "secret_key": …}.
    #[arg(long)]
    json: bool,
    /// Legal title for the contracts (default: the name).
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    /// MERSİS number.
    #[arg(long)]
    mersis: Option<String>,
    #[arg(long)]
    website: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    kapi::install_crypto_provider();
    kapi::telemetry::init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = Settings::load(
                cli.config.as_deref(),
                CliOverrides {
                    listen: args.listen,
                    public_url: args.public_url,
                    data_dir: args.data_dir,
                    demo: args.demo,
                },
            )?;
            let app = Application::build(settings).await?;
            tracing::info!(url = %app.public_url, data_dir = %app.data_dir.display(), "Kapı is listening");
            if let Some(shop) = &app.demo_url {
                tracing::info!(url = %shop, "demo shop is listening: open it in a browser and click Buy");
            }
            app.run_until(shutdown_signal()).await
        }
        Command::Merchant {
            command: MerchantCommand::Add(args),
        } => {
            let settings = Settings::load(
                cli.config.as_deref(),
                CliOverrides {
                    data_dir: args.data_dir,
                    ..Default::default()
                },
            )?;
            let (vault, store) = startup::open_data(&settings).await?;
            let now_ms =
                (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
            let (id, secret) = merchants::register(
                &store,
                &vault,
                NewMerchant {
                    id: None,
                    name: args.name,
                    legal_title: args.title.unwrap_or_default(),
                    address: args.address.unwrap_or_default(),
                    phone: args.phone.unwrap_or_default(),
                    email: args.email.unwrap_or_default(),
                    mersis: args.mersis.unwrap_or_default(),
                    website: args.website.unwrap_or_default(),
                    return_origins: args.return_origins,
                },
                now_ms,
            )
            .await?;
            if args.json {
                let out = serde_json::json!({ "merchant_id": id.as_str(), "secret_key": secret.expose_secret() });
                println!("{out}");
            } else {
                println!("merchant_id: {id}");
                println!("secret_key:  {}", secret.expose_secret());
                println!("Keep the secret key safe: it is shown only this once.");
            }
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
