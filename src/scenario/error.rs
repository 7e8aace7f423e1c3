//! Scenario loading errors: one line each, naming the file, the document, the object and the field.

/// Why a scenario could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {message}")]
    Io {
        /// File name.
        file: String,
        /// OS error.
        message: String,
    },
    /// The text is not YAML.
    #[error("{file}: invalid YAML: {message}")]
    Yaml {
        /// File name.
        file: String,
        /// Parser message with line and column.
        message: String,
    },
    /// A known kind is malformed.
    #[error(transparent)]
    Invalid(#[from] crate::k8s::ConvertError),
    /// Expanding replicas would create more pods than karpdeck holds.
    #[error("{workload}: {replicas} replicas would exceed the limit of {limit} pods created per scenario")]
    TooManyReplicas {
        /// `Deployment ns/name`.
        workload: String,
        /// Replicas asked for.
        replicas: i64,
        /// The limit.
        limit: usize,
    },
    /// A `--scale` argument is wrong or names nothing.
    #[error("--scale {spec}: {message}")]
    Scale {
        /// The argument as given.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// `--region` names a region the embedded catalog does not have.
    #[error("--region {region}: not in the embedded catalog (one of {known})")]
    UnknownRegion {
        /// The argument as given.
        region: String,
        /// The catalog's regions.
        known: String,
    },
}
