//! Progress reporting from library to front end. The library never prints: long operations
//! call a [`Reporter`], which the CLI renders as bars on a terminal or plain lines otherwise.

/// Receives progress events. Implementations must be cheap: `advance` is called per chunk.
pub trait Reporter: Send + Sync {
    /// A unit of work (a blob, an entry) of `total` bytes begins.
    fn start(&self, label: &str, total: u64) -> Box<dyn Task>;
    /// A one-line note about what happened (a blob skipped, an image resolved).
    fn note(&self, line: &str);
}

/// One unit of work in progress.
pub trait Task: Send + Sync {
    /// `bytes` more have been processed.
    fn advance(&self, bytes: u64);
    /// The work is finished.
    fn finish(&self);
}

/// A reporter that discards everything (tests, `--quiet`).
#[derive(Clone, Copy, Default, Debug)]
pub struct Silent;

impl Reporter for Silent {
    fn start(&self, _: &str, _: u64) -> Box<dyn Task> {
        Box::new(Silent)
    }
    fn note(&self, _: &str) {}
}

impl Task for Silent {
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
