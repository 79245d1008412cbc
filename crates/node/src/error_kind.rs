//! Every `kind` an error answer of either listener can carry: a stable word, the
//! `reason` label of `hearsay_api_errors_total`, listed once here so docs/api.md can be
//! held to it by a test (a kind the code never emits, or one the docs don't list,
//! fails it).

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// The stable word of an error answer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorKind {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorKind {
            /// Every kind, in the order they are declared.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The word itself, as the JSON body and the metric label carry it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $text,)*
                }
            }
        }
    };
}

kinds! {
    /// Not valid JSON, a field missing or of the wrong type, bad base64, not HTTP.
    BadRequest = "bad_request",
    /// A module name outside `[a-z0-9][a-z0-9_-]{0,63}`.
    InvalidModuleName = "invalid_module_name",
    /// Not WebAssembly.
    InvalidWasm = "invalid_wasm",
    /// WebAssembly, but not a hearsay module.
    BadAbi = "bad_abi",
    /// The module refused its params, trapped starting, or broke its budget starting.
    InitFailed = "init_failed",
    /// An unknown budget key, a zero, or an automatic rollback of 0 ms.
    BadBudget = "bad_budget",
    /// Params over 16 KiB.
    ParamsTooLong = "params_too_long",
    /// A signature over 256 bytes.
    SignatureTooLong = "signature_too_long",
    /// A deployment number more than an hour ahead of this node's clock.
    FutureNumber = "future_number",
    /// Not a code version (64 hex digits or a unique prefix of 8+).
    BadVersion = "bad_version",
    /// Code this node doesn't store.
    CodeMissing = "code_missing",
    /// Code that doesn't hash to the record's version.
    CodeMismatch = "code_mismatch",
    /// Stored code that no longer hashes to its name (never served).
    CodeCorrupt = "code_corrupt",
    /// A rollback with no version to go back to.
    NoPrevious = "no_previous",
    /// An unsigned deployment to a node that takes only signed ones.
    Unsigned = "unsigned",
    /// A deployment no trusted key signed.
    Untrusted = "untrusted",
    /// A token is set and the request doesn't carry it.
    Unauthorized = "unauthorized",
    /// `Host` is not one of the API's addresses.
    ForbiddenHost = "forbidden_host",
    /// A browser request from another origin.
    ForbiddenOrigin = "forbidden_origin",
    /// A module never deployed here.
    UnknownModule = "unknown_module",
    /// A module that doesn't run here.
    NotRunning = "not_running",
    /// A command to a module that takes none (it doesn't export `hearsay_command`).
    NoCommands = "no_commands",
    /// No such route.
    NoSuchEndpoint = "no_such_endpoint",
    /// A route that doesn't take that method.
    MethodNotAllowed = "method_not_allowed",
    /// A pre-signed record whose number isn't above the module's highest here.
    StaleNumber = "stale_number",
    /// A body over its limit.
    TooLarge = "too_large",
    /// A URI over 64 KiB.
    UriTooLong = "uri_too_long",
    /// A body that isn't `application/json`.
    UnsupportedMediaType = "unsupported_media_type",
    /// A request head over 64 KiB.
    HeadersTooLarge = "headers_too_large",
    /// A gossip batch whose framing is broken.
    BadBatch = "bad_batch",
    /// The code could not be stored; nothing was deployed.
    StoreFailed = "store_failed",
    /// Something in the agent failed that shouldn't.
    Internal = "internal",
    /// The agent is shutting down.
    Unavailable = "unavailable",
    /// Too many request bodies being read at once.
    Busy = "busy",
    /// The node is behind: part of a gossip batch was dropped.
    Overloaded = "overloaded",
    /// No space to store the code; nothing was deployed.
    DiskFull = "disk_full",
}
