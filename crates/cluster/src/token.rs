//! Bootstrap tokens exactly as the API server, the controller-manager and kubeadm understand them:
//! `<id>.<secret>` (`[a-z0-9]{6}.[a-z0-9]{16}`), stored in Secret `kube-system/bootstrap-token-<id>`
//! of type `bootstrap.kubernetes.io/token` with the keys kubeadm's `BootstrapTokenToSecret` writes.
//! The secret part comes from the OS CSPRNG (aws-lc-rs) and is never shown by `Display`/`Debug`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret as K8sSecret;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kubecert_config::Secret;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ApiError, Context};

/// Namespace of token Secrets.
pub const NAMESPACE: &str = "kube-system";
/// Secret type of bootstrap tokens.
pub(crate) const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// Prefix of a token Secret's name.
pub(crate) const SECRET_PREFIX: &str = "bootstrap-token-";
/// The group kubeadm's node-join tokens carry (`--groups` default).
pub use crate::names::KUBEADM_NODE_TOKEN_GROUP as DEFAULT_GROUP;
/// The group every bootstrap token authenticates as.
pub use crate::names::BOOTSTRAPPERS_GROUP as ALL_BOOTSTRAPPERS_GROUP;
/// The user a token authenticates as is this prefix plus its id.
pub use crate::names::BOOTSTRAP_USER_PREFIX as USER_PREFIX;
/// Default lifetime: long enough for a repair, short enough not to linger (kubeadm's is 24 h).
pub(crate) const DEFAULT_TTL: time::Duration = time::Duration::hours(1);
/// Usages a token may carry.
pub(crate) const KNOWN_USAGES: [&str; 2] = ["signing", "authentication"];
/// The mask shown instead of a token's secret.
pub const MASK: &str = "****************";

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// What is wrong with a token, a group, a usage or a TTL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFormatError {
    /// Not `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[error("the token is not of the form \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\"")]
    Token,
    /// Not `[a-z0-9]{6}`.
    #[error("{0:?} is not a token id ([a-z0-9]{{6}})")]
    Id(String),
    /// A group kubeadm would refuse.
    #[error("bootstrap group {0:?} is invalid (must match \\Asystem:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]\\z)")]
    Group(String),
    /// An unknown usage.
    #[error("invalid bootstrap token usage string: {0}, valid usage options: signing,authentication")]
    Usage(String),
    /// Groups without the authentication usage.
    #[error("token groups cannot be specified unless --usages includes \"authentication\"")]
    GroupsWithoutAuthentication,
    /// A description with a newline (it would break `token list`).
    #[error("the description must be one line")]
    Description,
}

/// A bootstrap token. `Display` and `Debug` show `<id>.****************`; the secret is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    id: String,
    secret: Secret,
}

impl Token {
    /// Parses `<id>.<secret>`.
    pub fn parse(text: &str) -> Result<Token, TokenFormatError> {
        let (id, secret) = text.trim().split_once('.').ok_or(TokenFormatError::Token)?;
        if !is_token_chars(id, 6) || !is_token_chars(secret, 16) {
            return Err(TokenFormatError::Token);
        }
        Ok(Token { id: id.to_string(), secret: Secret::new(secret) })
    }

    /// A new token from the OS CSPRNG (uniform over `[a-z0-9]`, by rejection sampling).
    pub fn generate() -> Token {
        let s = random_chars(22);
        Token { id: s[..6].to_string(), secret: Secret::new(&s[6..]) }
    }

    /// The public id (`abcdef`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret part; use only where it must go (a Secret, a kubeconfig, an HMAC key).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The whole token `<id>.<secret>`, to hand to a kubelet or a person who asked for it.
    pub fn expose(&self) -> Secret {
        Secret::new(format!("{}.{}", self.id, self.secret.expose()))
    }

    /// The user this token authenticates as.
    pub fn user(&self) -> String {
        format!("{USER_PREFIX}{}", self.id)
    }

    /// The name of its Secret.
    pub(crate) fn secret_name(&self) -> String {
        secret_name(&self.id)
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{MASK}", self.id)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({self})")
    }
}

fn is_token_chars(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

fn random_chars(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        aws_lc_rs::rand::fill(&mut buf).expect("the OS random number generator failed");
        // 252 = 7 * 36: bytes above it would bias the alphabet.
        for b in buf.iter().filter(|b| **b < 252) {
            if out.len() == n {
                break;
            }
            out.push(ALPHABET[(*b % 36) as usize] as char);
        }
    }
    buf.fill(0);
    out
}

/// Validates a token id (`abcdef`), as `token delete` accepts it.
pub(crate) fn parse_id(text: &str) -> Result<String, TokenFormatError> {
    let t = text.trim();
    if is_token_chars(t, 6) { Ok(t.to_string()) } else { Err(TokenFormatError::Id(t.to_string())) }
}

/// `id` or `id.secret` → the id (what `kubeadm token delete` accepts).
pub fn id_of(text: &str) -> Result<String, TokenFormatError> {
    if text.contains('.') { Token::parse(text).map(|t| t.id) } else { parse_id(text) }
}

/// The Secret name of token `id`.
pub(crate) fn secret_name(id: &str) -> String {
    format!("{SECRET_PREFIX}{id}")
}

/// kubeadm's group check: `\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z`.
pub(crate) fn validate_group(group: &str) -> Result<(), TokenFormatError> {
    let bad = || TokenFormatError::Group(group.to_string());
    let rest = group.strip_prefix("system:bootstrappers:").ok_or_else(bad)?;
    let (last, middle) = match rest.as_bytes().split_last() {
        Some((l, m)) => (*l, m),
        None => return Err(bad()),
    };
    let ok_middle = middle.len() <= 255 && middle.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b':' || *b == b'-');
    let ok_last = last.is_ascii_lowercase() || last.is_ascii_digit();
    if ok_middle && ok_last { Ok(()) } else { Err(bad()) }
}

/// What a new token is for: kubeadm's `--ttl`, `--usages`, `--groups`, `--description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Lifetime; `None` (kubeadm's `--ttl 0`) never expires.
    pub ttl: Option<time::Duration>,
    /// Usages (`signing`, `authentication`).
    pub usages: Vec<String>,
    /// Extra groups.
    pub groups: Vec<String>,
    /// Free text.
    pub description: Option<String>,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec {
            ttl: Some(DEFAULT_TTL),
            usages: KNOWN_USAGES.iter().map(|s| s.to_string()).collect(),
            groups: vec![DEFAULT_GROUP.to_string()],
            description: None,
        }
    }
}

impl TokenSpec {
    /// Checks usages and groups as kubeadm does.
    pub fn validate(&self) -> Result<(), TokenFormatError> {
        for u in &self.usages {
            if !KNOWN_USAGES.contains(&u.as_str()) {
                return Err(TokenFormatError::Usage(u.clone()));
            }
        }
        if !self.groups.is_empty() && !self.usages.iter().any(|u| u == "authentication") {
            return Err(TokenFormatError::GroupsWithoutAuthentication);
        }
        for g in &self.groups {
            validate_group(g)?;
        }
        if self.description.as_deref().is_some_and(|d| d.contains('\n')) {
            return Err(TokenFormatError::Description);
        }
        Ok(())
    }
}

/// Formats a time as Go's `time.RFC3339` in UTC (`2026-11-25T10:00:00Z`, whole seconds).
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// The Secret kubeadm's `BootstrapTokenToSecret` makes for `token` with `spec`, at time `now`.
pub(crate) fn to_secret(token: &Token, spec: &TokenSpec, now: OffsetDateTime) -> K8sSecret {
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put("token-id", &token.id);
    put("token-secret", token.secret.expose());
    if let Some(d) = spec.description.as_deref().filter(|d| !d.is_empty()) {
        put("description", d);
    }
    if let Some(ttl) = spec.ttl.filter(|t| t.is_positive()) {
        put("expiration", &rfc3339(now + ttl));
    }
    for u in &spec.usages {
        put(&format!("usage-bootstrap-{u}"), "true");
    }
    if !spec.groups.is_empty() {
        put("auth-extra-groups", &spec.groups.join(","));
    }
    K8sSecret {
        metadata: ObjectMeta { name: Some(token.secret_name()), namespace: Some(NAMESPACE.into()), ..Default::default() },
        type_: Some(SECRET_TYPE.into()),
        data: Some(data),
        ..Default::default()
    }
}

/// A token as read back from its Secret: everything but the secret.
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    /// The id.
    pub id: String,
    /// Expiry, if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// The raw `expiration` value when it does not parse (the API server treats that as expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_expiration: Option<String>,
    /// Usages marked `true`.
    pub usages: Vec<String>,
    /// `auth-extra-groups`.
    pub groups: Vec<String>,
    /// `description`.
    pub description: Option<String>,
    /// Set when the Secret is being deleted (it no longer authenticates).
    pub being_deleted: bool,
}

impl TokenInfo {
    /// True when the token no longer authenticates because of its expiry, at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.invalid_expiration.is_some() || self.expires.is_some_and(|e| e <= now)
    }
}

/// Why a Secret is not a usable bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Secret {NAMESPACE}/{name} is not a valid bootstrap token: {reason}")]
pub struct BadTokenSecret {
    /// The Secret's name.
    pub name: String,
    /// Why.
    pub reason: String,
}

fn data_str<'a>(data: &'a BTreeMap<String, ByteString>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(|v| std::str::from_utf8(&v.0).ok())
}

/// Reads a token Secret back, as kubeadm's `BootstrapTokenFromSecret` does (the secret part is
/// checked but not kept).
pub(crate) fn from_secret(s: &K8sSecret) -> Result<TokenInfo, BadTokenSecret> {
    let name = s.metadata.name.clone().unwrap_or_default();
    let bad = |reason: &str| BadTokenSecret { name: name.clone(), reason: reason.to_string() };
    let empty = BTreeMap::new();
    let data = s.data.as_ref().unwrap_or(&empty);
    let id = data_str(data, "token-id").ok_or_else(|| bad("no token-id"))?;
    if !is_token_chars(id, 6) {
        return Err(bad("token-id is not [a-z0-9]{6}"));
    }
    if name != secret_name(id) {
        return Err(bad(&format!("its name does not match token-id {id:?}")));
    }
    let secret = data_str(data, "token-secret").ok_or_else(|| bad("no token-secret"))?;
    if !is_token_chars(secret, 16) {
        return Err(bad("token-secret is not [a-z0-9]{16}"));
    }
    let (expires, invalid_expiration) = match data_str(data, "expiration") {
        None => (None, None),
        Some(e) => match OffsetDateTime::parse(e, &Rfc3339) {
            Ok(t) => (Some(t), None),
            Err(_) => (None, Some(e.to_string())),
        },
    };
    let usages = KNOWN_USAGES
        .iter()
        .filter(|u| data_str(data, &format!("usage-bootstrap-{u}")) == Some("true"))
        .map(|u| u.to_string())
        .collect();
    let groups = data_str(data, "auth-extra-groups")
        .map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let description = data_str(data, "description").filter(|d| !d.is_empty()).map(String::from);
    Ok(TokenInfo { id: id.to_string(), expires, invalid_expiration, usages, groups, description, being_deleted: s.metadata.deletion_timestamp.is_some() })
}

fn api(client: &kube::Client) -> Api<K8sSecret> {
    Api::namespaced(client.clone(), NAMESPACE)
}

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Bad usages/groups.
    #[error(transparent)]
    Format(#[from] TokenFormatError),
    /// A token with this id exists already (kubeadm's wording).
    #[error("a token with id {0:?} already exists")]
    Exists(String),
    /// The API said no.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Creates `token` (a new one when `None`) with `spec`; fails if its id is taken, as kubeadm does.
/// With `dry_run` the server validates and admits the Secret but stores nothing.
pub async fn create(client: &kube::Client, token: Option<Token>, spec: &TokenSpec, dry_run: bool) -> Result<(Token, TokenInfo), CreateError> {
    spec.validate()?;
    let token = token.unwrap_or_else(Token::generate);
    let secret = to_secret(&token, spec, OffsetDateTime::now_utc());
    let pp = PostParams { dry_run, field_manager: Some("kubecert".into()) };
    match api(client).create(&pp, &secret).await {
        Ok(created) => {
            let info = from_secret(&created).map_err(|e| TokenFormatError::Id(e.to_string()))?;
            Ok((token, info))
        }
        Err(e) if crate::error::status_code(&e) == Some(409) => Err(CreateError::Exists(token.id.clone())),
        Err(e) => Err(ApiError::new(format!("create Secret {NAMESPACE}/{}", token.secret_name()), e).into()),
    }
}

/// Every bootstrap-token Secret: the valid ones, and the ones that are not valid tokens (with why).
pub async fn list(client: &kube::Client) -> Result<(Vec<TokenInfo>, Vec<BadTokenSecret>), ApiError> {
    let lp = ListParams::default().fields(&format!("type={SECRET_TYPE}"));
    let secrets = api(client).list(&lp).await.ctx(|| format!("list bootstrap-token Secrets in {NAMESPACE}"))?;
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for s in &secrets.items {
        match from_secret(s) {
            Ok(t) => good.push(t),
            Err(e) => bad.push(e),
        }
    }
    good.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((good, bad))
}

/// Deletes token `id`. Returns false when there was no such token.
pub async fn delete(client: &kube::Client, id: &str) -> Result<bool, ApiError> {
    match api(client).delete(&secret_name(id), &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) if crate::error::status_code(&e) == Some(404) => Ok(false),
        Err(e) => Err(ApiError::new(format!("delete Secret {NAMESPACE}/{}", secret_name(id)), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_kubeadm_form() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.id(), "abcdef");
        assert_eq!(t.secret().expose(), "0123456789abcdef");
        assert_eq!(t.user(), "system:bootstrap:abcdef");
        assert_eq!(t.secret_name(), "bootstrap-token-abcdef");
        for bad in ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", "abcdef.0123456789abcdeff", "abc_ef.0123456789abcdef", "abcdef.", ".0123456789abcdef", "abcdef.0123456789abcdeF"] {
            assert_eq!(Token::parse(bad), Err(TokenFormatError::Token), "{bad}");
        }
        assert_eq!(id_of("abcdef").unwrap(), "abcdef");
        assert_eq!(id_of("abcdef.0123456789abcdef").unwrap(), "abcdef");
        assert!(id_of("abcdefg").is_err());
    }

    #[test]
    fn display_and_debug_mask_the_secret() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        assert_eq!(t.to_string(), "abcdef.****************");
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        assert!(!format!("{t:#?}").contains("0123456789abcdef"));
        assert_eq!(t.expose().expose(), "abcdef.0123456789abcdef");
    }

    #[test]
    fn generated_tokens_parse_and_differ() {
        let mut seen = std::collections::BTreeSet::new();
        let mut counts = [0usize; 36];
        for _ in 0..2000 {
            let t = Token::generate();
            let whole = t.expose();
            assert!(Token::parse(whole.expose()).is_ok());
            assert!(seen.insert(whole.expose().to_string()));
            for b in whole.expose().bytes().filter(|b| *b != b'.') {
                counts[ALPHABET.iter().position(|a| *a == b).unwrap()] += 1;
            }
        }
        // 44000 draws over 36 symbols: ~1222 each; every symbol well inside [900, 1550].
        assert!(counts.iter().all(|c| (900..1550).contains(c)), "{counts:?}");
    }

    #[test]
    fn groups_are_validated_like_kubeadm() {
        assert!(validate_group(DEFAULT_GROUP).is_ok());
        assert!(validate_group("system:bootstrappers:a").is_ok());
        assert!(validate_group("system:bootstrappers:foo-bar:baz9").is_ok());
        assert!(validate_group(&format!("system:bootstrappers:{}a", "b".repeat(255))).is_ok());
        for bad in ["system:bootstrappers:", "system:bootstrappers", "system:bootstrappers:a-", "system:bootstrappers:a:", "system:bootstrappers:A", "system:nodes", "xsystem:bootstrappers:a", "system:bootstrappers:a\n", "system:bootstrappers:a_b"] {
            assert!(validate_group(bad).is_err(), "{bad:?}");
        }
        assert!(validate_group(&format!("system:bootstrappers:{}a", "b".repeat(256))).is_err());
        let spec = TokenSpec { usages: vec!["signing".into()], ..Default::default() };
        assert_eq!(spec.validate(), Err(TokenFormatError::GroupsWithoutAuthentication));
        let spec = TokenSpec { usages: vec!["signing".into(), "bogus".into()], groups: vec![], ..Default::default() };
        assert_eq!(spec.validate(), Err(TokenFormatError::Usage("bogus".into())));
    }

    #[test]
    fn secret_matches_kubeadm_encoding_and_reads_back() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap() + time::Duration::milliseconds(750);
        let spec = TokenSpec { description: Some("repair n1".into()), ..Default::default() };
        let s = to_secret(&t, &spec, now);
        assert_eq!(s.metadata.name.as_deref(), Some("bootstrap-token-abcdef"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(s.type_.as_deref(), Some("bootstrap.kubernetes.io/token"));
        let d: BTreeMap<&str, &str> = s.data.as_ref().unwrap().iter().map(|(k, v)| (k.as_str(), std::str::from_utf8(&v.0).unwrap())).collect();
        let want: BTreeMap<&str, &str> = [
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("description", "repair n1"),
            ("expiration", "2027-01-15T09:00:00Z"),
            ("usage-bootstrap-signing", "true"),
            ("usage-bootstrap-authentication", "true"),
            ("auth-extra-groups", "system:bootstrappers:kubeadm:default-node-token"),
        ]
        .into_iter()
        .collect();
        assert_eq!(d, want);
        let info = from_secret(&s).unwrap();
        assert_eq!(info.id, "abcdef");
        assert_eq!(info.usages, vec!["signing", "authentication"]);
        assert_eq!(info.groups, vec![DEFAULT_GROUP]);
        assert!(!info.is_expired(now));
        assert!(info.is_expired(now + time::Duration::hours(2)));
        // --ttl 0: no expiration key at all.
        let forever = to_secret(&t, &TokenSpec { ttl: None, ..Default::default() }, now);
        assert!(!forever.data.unwrap().contains_key("expiration"));
    }

    #[test]
    fn bad_secrets_are_named_not_trusted() {
        let t = Token::parse("abcdef.0123456789abcdef").unwrap();
        let mut s = to_secret(&t, &TokenSpec::default(), OffsetDateTime::now_utc());
        s.metadata.name = Some("bootstrap-token-zzzzzz".into());
        assert!(from_secret(&s).unwrap_err().reason.contains("does not match"));
        let mut s = to_secret(&t, &TokenSpec::default(), OffsetDateTime::now_utc());
        s.data.as_mut().unwrap().insert("expiration".into(), ByteString(b"tomorrow".to_vec()));
        let info = from_secret(&s).unwrap();
        assert!(info.is_expired(OffsetDateTime::now_utc()));
    }
}
