//! Finding the cluster the way kubectl does: `--kubeconfig`, else `KUBECONFIG` (several files,
//! merged), else `~/.kube/config`; `--context`, else the current context.

use std::path::{Path, PathBuf};

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};

use crate::k8s::error::one_line;

/// Where to find the cluster: the `--kubeconfig` and `--context` flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// A kubeconfig file; `None` reads `KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context name; `None` is the kubeconfig's current context.
    pub context: Option<String>,
}

/// A kubeconfig read from disk, with the contexts it offers.
#[derive(Debug, Clone)]
pub struct Contexts {
    kubeconfig: Kubeconfig,
    /// Where it was read from, for messages.
    pub source: String,
}

/// A connected client and what it is connected to.
#[derive(Clone)]
pub struct Connection {
    /// The client for reading (kube-client's own retries on 429, 503 and 504 are on).
    pub client: Client,
    /// The client for calls that change the cluster: no automatic retries, so a refusal (an
    /// eviction's 429) comes back at once for the executor to retry and show.
    pub acting: Client,
    /// The context's name.
    pub context: String,
    /// The context's cluster name.
    pub cluster: String,
    /// The API server's URL.
    pub server: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("server", &self.server)
            .finish()
    }
}

/// Why no client could be made; each says what to do in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Nothing to read.
    #[error("no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist (use --kubeconfig, or `karpdeck demo` for the simulated cluster)")]
    NoKubeconfig,
    /// `KUBECONFIG` is set, but none of its files exists.
    #[error("no kubeconfig: none of the files KUBECONFIG names exists ({paths})")]
    KubeconfigMissing {
        /// KUBECONFIG as set.
        paths: String,
    },
    /// The file is unreadable or malformed.
    #[error("{file}: {message}")]
    Kubeconfig {
        /// The file(s).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The context is not in the kubeconfig.
    #[error("{file}: no context {context:?} (contexts: {known})")]
    NoContext {
        /// The file(s).
        file: String,
        /// Asked for.
        context: String,
        /// Those there are.
        known: String,
    },
    /// The kubeconfig names no current context and none was given.
    #[error("{file}: no current context (use --context; contexts: {known})")]
    NoCurrentContext {
        /// The file(s).
        file: String,
        /// Those there are.
        known: String,
    },
}

fn kubeconfig_error(source: &str, e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Kubeconfig {
        file: source.to_string(),
        message: one_line(&e.to_string()),
    }
}

/// An API error as the operator reads it: the server's own message and status code, or the
/// transport error with its causes (`connection refused`), on one line.
pub fn error_text(e: &::kube::Error) -> String {
    if let ::kube::Error::Api(status) = e {
        return one_line(&format!("{} (HTTP {})", status.message, status.code));
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    one_line(&text)
}

/// A watcher's error, as [`error_text`] tells an API error.
pub fn watch_error_text(e: &::kube::runtime::watcher::Error) -> String {
    use ::kube::runtime::watcher::Error as W;
    match e {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => error_text(e),
        W::WatchError(status) => one_line(&format!("{} (HTTP {})", status.message, status.code)),
        W::NoResourceVersion => e.to_string(),
    }
}

impl Contexts {
    /// Read the kubeconfig `target` names, as kubectl would.
    pub fn read(target: &Target) -> Result<Self, ConnectError> {
        if let Some(path) = &target.kubeconfig {
            return Self::read_file(path);
        }
        match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(paths) => {
                let source = paths.to_string_lossy().into_owned();
                let files: Vec<PathBuf> = std::env::split_paths(&paths)
                    .filter(|p| p.exists())
                    .collect();
                if files.is_empty() {
                    return Err(ConnectError::KubeconfigMissing { paths: source });
                }
                let mut merged = Kubeconfig::default();
                for file in &files {
                    let one = Kubeconfig::read_from(file)
                        .map_err(|e| kubeconfig_error(&file.display().to_string(), e))?;
                    merged = merged
                        .merge(one)
                        .map_err(|e| kubeconfig_error(&source, e))?;
                }
                Ok(Self {
                    kubeconfig: merged,
                    source,
                })
            }
            None => {
                let home = std::env::var_os("HOME").ok_or(ConnectError::NoKubeconfig)?;
                let path = Path::new(&home).join(".kube").join("config");
                if !path.exists() {
                    return Err(ConnectError::NoKubeconfig);
                }
                Self::read_file(&path)
            }
        }
    }

    fn read_file(path: &Path) -> Result<Self, ConnectError> {
        let source = path.display().to_string();
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| kubeconfig_error(&source, e))?;
        Ok(Self { kubeconfig, source })
    }

    /// The context names, in the file's order.
    pub fn names(&self) -> Vec<String> {
        self.kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    /// The current context's name.
    pub fn current(&self) -> Option<&str> {
        self.kubeconfig
            .current_context
            .as_deref()
            .filter(|c| !c.is_empty())
    }

    /// Which context `requested` (or the current one) resolves to.
    pub fn resolve(&self, requested: Option<&str>) -> Result<String, ConnectError> {
        let known = || self.names().join(", ");
        let name = match requested.or(self.current()) {
            Some(n) => n.to_string(),
            None => {
                return Err(ConnectError::NoCurrentContext {
                    file: self.source.clone(),
                    known: known(),
                })
            }
        };
        if !self.kubeconfig.contexts.iter().any(|c| c.name == name) {
            return Err(ConnectError::NoContext {
                file: self.source.clone(),
                context: name,
                known: known(),
            });
        }
        Ok(name)
    }

    /// A client for `context`, with every auth method kube-rs supports (token, client
    /// certificate, exec plugin).
    pub async fn connect(&self, context: &str) -> Result<Connection, ConnectError> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|e| kubeconfig_error(&format!("{} (context {context})", self.source), e))?;
        let cluster = self
            .kubeconfig
            .contexts
            .iter()
            .find(|c| c.name == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .unwrap_or_default();
        let server = config.cluster_url.to_string();
        let client_of = |config: Config| {
            Client::try_from(config)
                .map_err(|e| kubeconfig_error(&format!("{} (context {context})", self.source), e))
        };
        let mut no_retry = config.clone();
        no_retry.default_retry = false;
        let acting = client_of(no_retry)?;
        let client = client_of(config)?;
        Ok(Connection {
            client,
            acting,
            context: context.to_string(),
            cluster,
            server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters:\n- name: ca\n  cluster: {server: 'https://127.0.0.1:1'}\n- name: cb\n  cluster: {server: 'https://127.0.0.1:2'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: a\n  context: {cluster: ca, user: u}\n- name: b\n  context: {cluster: cb, user: u}\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn contexts_resolve_like_kubectl() {
        let dir = std::env::temp_dir().join(format!("karpdeck-kc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write(&dir, "config", TWO);
        let c = Contexts::read(&Target {
            kubeconfig: Some(path.clone()),
            context: None,
        })
        .unwrap();
        assert_eq!(c.names(), ["a", "b"]);
        assert_eq!(c.resolve(None).unwrap(), "a");
        assert_eq!(c.resolve(Some("b")).unwrap(), "b");
        let err = c.resolve(Some("zz")).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: no context \"zz\" (contexts: a, b)", path.display())
        );
        let bad = write(&dir, "bad", "clusters: [\n");
        let err = Contexts::read(&Target {
            kubeconfig: Some(bad.clone()),
            context: None,
        })
        .unwrap_err()
        .to_string();
        assert!(err.starts_with(&bad.display().to_string()), "{err}");
        assert!(!err.contains('\n'), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn connect_names_context_cluster_and_server() {
        let dir = std::env::temp_dir().join(format!("karpdeck-kc2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = write(&dir, "config", TWO);
        let c = Contexts::read(&Target {
            kubeconfig: Some(path),
            context: None,
        })
        .unwrap();
        let conn = c.connect("b").await.unwrap();
        assert_eq!((conn.context.as_str(), conn.cluster.as_str()), ("b", "cb"));
        assert_eq!(conn.server, "https://127.0.0.1:2/");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
