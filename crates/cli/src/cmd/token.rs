//! `kubecert token create|list|delete`: bootstrap tokens as kubeadm makes them, with kubeadm's
//! flags where they overlap. The default TTL is 1 h (kubeadm's is 24 h, longer than a repair
//! needs). `list` never shows a secret; `delete` takes an id or a whole token.

use crate::global::{Global, Output};
use crate::render;
use anyhow::Context as _;
use comfy_table::Table;
use kubecert_cluster::client::{connect, AdminClient, ClientOptions};
use kubecert_cluster::token::{self, Token, TokenInfo, TokenSpec};
use std::process::ExitCode;
use time::OffsetDateTime;

/// Manage bootstrap tokens (Secrets kube-system/bootstrap-token-<id>), compatible with kubeadm's.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Create a bootstrap token and print it (the only time its secret is shown).
    Create(CreateArgs),
    /// List bootstrap tokens (secrets masked); expired ones are marked.
    List,
    /// Delete bootstrap tokens by id (abcdef) or whole token (abcdef.0123456789abcdef).
    Delete(DeleteArgs),
}

/// The flags kubeadm's `token create` shares, with kubecert's shorter default TTL.
#[derive(Debug, Clone, clap::Args)]
pub struct SpecArgs {
    /// Lifetime, e.g. 30m, 1h, 2h30m, 24h; 0 = never expires.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Ttl,
    /// Usages, comma-separated: signing (cluster-info discovery), authentication (TLS bootstrap).
    #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
    pub usages: Vec<String>,
    /// Extra groups the token authenticates as (each must match \Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z).
    #[arg(long, value_delimiter = ',', default_value = token::DEFAULT_GROUP)]
    pub groups: Vec<String>,
    /// A human description of what the token is for.
    #[arg(long)]
    pub description: Option<String>,
}

impl SpecArgs {
    /// The token spec.
    pub fn spec(&self) -> TokenSpec {
        TokenSpec { ttl: self.ttl.0, usages: self.usages.clone(), groups: self.groups.clone(), description: self.description.clone() }
    }
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// Use this token instead of a random one ([a-z0-9]{6}.[a-z0-9]{16}).
    token: Option<String>,
    #[command(flatten)]
    spec: SpecArgs,
    /// Print the command a node runs to discover the cluster and install a bootstrap kubeconfig with this token.
    #[arg(long)]
    print_join_command: bool,
    /// Validate server-side, store nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, clap::Args)]
struct DeleteArgs {
    /// Token ids or whole tokens.
    #[arg(required = true)]
    tokens: Vec<String>,
}

/// A token lifetime; `None` never expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(pub Option<time::Duration>);

/// Parses Go-style durations as kubeadm's --ttl takes them (`1h30m`, `90m`, `45s`, `0`).
pub fn parse_ttl(s: &str) -> Result<Ttl, String> {
    parse_duration(s).map(Ttl)
}

fn parse_duration(s: &str) -> Result<Option<time::Duration>, String> {
    // The one checked grammar of every duration flag; zero means "never expires", as in kubeadm.
    let d: kubecert_config::Duration = s.parse().map_err(|e: kubecert_config::DurationError| e.to_string())?;
    Ok(if d.is_zero() { None } else { Some(d.as_time()) })
}

/// A small runtime for one command (the CLI is synchronous).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")
}

/// Runs `fut` on a runtime of its own.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> anyhow::Result<F::Output> {
    Ok(runtime()?.block_on(fut))
}

/// The admin client from `--kubeconfig`/`$KUBECONFIG`/`~/.kube/config` and `--context`.
pub(crate) async fn admin(global: &Global) -> anyhow::Result<AdminClient> {
    Ok(connect(&ClientOptions { kubeconfig: global.kubeconfig.clone(), context: global.context.clone() }).await?)
}

/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let admin = admin(global).await?;
        match args.command {
            Sub::Create(a) => create(&admin, a, global).await,
            Sub::List => list(&admin, global).await,
            Sub::Delete(a) => delete(&admin, a, global).await,
        }
    })?
}

async fn create(admin: &AdminClient, a: CreateArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let given = a.token.as_deref().map(Token::parse).transpose()?;
    let (tok, info) = token::create(&admin.client, given, &a.spec.spec(), a.dry_run).await?;
    let join = if a.print_join_command { Some(join_command(admin, &tok)?) } else { None };
    #[derive(serde::Serialize)]
    struct Created<'a> {
        token: &'a str,
        #[serde(flatten)]
        info: &'a TokenInfo,
        dry_run: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        join_command: Option<&'a String>,
    }
    let whole = tok.expose();
    if !render::structured(global.output, &Created { token: whole.expose(), info: &info, dry_run: a.dry_run, join_command: join.as_ref() })? {
        match &join {
            Some(j) => println!("{j}"),
            None => println!("{}", whole.expose()),
        }
        if a.dry_run {
            eprintln!("(dry run: the API server validated the token Secret; nothing was stored)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kubecert discover ...` for a node, with the CA pin of the admin kubeconfig's CA.
fn join_command(admin: &AdminClient, tok: &Token) -> anyhow::Result<String> {
    let ca = admin.ca_der.first().context("the kubeconfig names no CA, so there is no --ca-cert-hash to print")?;
    let pin = kubecert_pki::Certificate::from_der(ca)?.info().public_key_pin.clone();
    let hostport = admin.server.trim_start_matches("https://");
    Ok(format!("kubecert discover --server {hostport} --token {} --ca-cert-hash {pin} --install --root /", tok.expose().expose()))
}

/// Text for a token's TTL column: `59m`, `<forever>`, `<expired>`.
fn ttl_text(t: &TokenInfo, now: OffsetDateTime) -> String {
    if t.invalid_expiration.is_some() {
        return "<expired: unparseable expiration>".into();
    }
    match t.expires {
        None => "<forever>".into(),
        Some(e) if e <= now => format!("<expired {} ago>", render::human_duration(now - e)),
        Some(e) => render::human_duration(e - now),
    }
}

async fn list(admin: &AdminClient, global: &Global) -> anyhow::Result<ExitCode> {
    let (tokens, bad) = token::list(&admin.client).await?;
    let now = OffsetDateTime::now_utc();
    for b in &bad {
        eprintln!("kubecert: warning: {b}");
    }
    #[derive(serde::Serialize)]
    struct Row<'a> {
        token: String,
        #[serde(flatten)]
        info: &'a TokenInfo,
        expired: bool,
    }
    let rows: Vec<Row> = tokens.iter().map(|t| Row { token: format!("{}.{}", t.id, token::MASK), info: t, expired: t.is_expired(now) }).collect();
    if render::structured(global.output, &rows)? {
        return Ok(ExitCode::SUCCESS);
    }
    if tokens.is_empty() {
        eprintln!("no bootstrap tokens");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]);
    for r in &rows {
        let expires = match (&r.info.expires, &r.info.invalid_expiration) {
            (_, Some(raw)) => raw.clone(),
            (Some(e), None) => token::rfc3339(*e),
            (None, None) => "<never>".into(),
        };
        let mut ttl = ttl_text(r.info, now);
        if r.info.being_deleted {
            ttl.push_str(" (being deleted)");
        }
        let desc = r.info.description.clone().unwrap_or_else(|| "<none>".into());
        t.add_row([r.token.clone(), ttl, expires, r.info.usages.join(","), desc, r.info.groups.join(",")]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

async fn delete(admin: &AdminClient, a: DeleteArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let mut missing = false;
    let mut done = Vec::new();
    for arg in &a.tokens {
        let id = token::id_of(arg).with_context(|| format!("{:?}", mask_arg(arg)))?;
        if token::delete(&admin.client, &id).await? {
            done.push(id.clone());
            if global.output == Output::Text || global.output == Output::Wide {
                println!("bootstrap token {id:?} deleted");
            }
        } else {
            missing = true;
            eprintln!("kubecert: bootstrap token {id:?} not found");
        }
    }
    if !render::structured(global.output, &serde_json::json!({ "deleted": done }))? && !done.is_empty() {
        // Measured on v1.37: the API server caches a successful token authentication for 10 s.
        eprintln!("note: the API server may still accept a deleted token for up to 10 s (it caches successful token authentications)");
    }
    Ok(ExitCode::from(if missing { 1 } else { 0 }))
}

/// An argument that may hold a secret, for error messages.
fn mask_arg(s: &str) -> String {
    match s.split_once('.') {
        Some((id, _)) => format!("{id}.{}", token::MASK),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parses_go_durations() {
        assert_eq!(parse_duration("1h").unwrap(), Some(time::Duration::hours(1)));
        assert_eq!(parse_duration("2h30m").unwrap(), Some(time::Duration::minutes(150)));
        assert_eq!(parse_duration("45s").unwrap(), Some(time::Duration::seconds(45)));
        assert_eq!(parse_duration("0").unwrap(), None);
        assert_eq!(parse_duration("0s").unwrap(), None);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn secrets_never_reach_error_text() {
        assert_eq!(mask_arg("abcdef.0123456789abcdef"), "abcdef.****************");
    }
}
