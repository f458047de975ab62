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
    /// The work turned out not to be needed (a blob the registry already had): nothing to
    /// report as done. By default, nothing happens.
    fn skip(&self) {}
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

/// A reader that reports the bytes it yields to a [`Task`], held by reference or shared
/// (`&dyn Task`, `Arc<dyn Task>`).
pub struct ProgressReader<R, T> {
    inner: R,
    task: T,
}

impl<R, T: std::ops::Deref<Target = dyn Task>> ProgressReader<R, T> {
    /// Report reads from `inner` to `task`.
    pub fn new(inner: R, task: T) -> Self {
        Self { inner, task }
    }
}

impl<R: std::io::Read, T: std::ops::Deref<Target = dyn Task>> std::io::Read for ProgressReader<R, T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.task.advance(n as u64);
        Ok(n)
    }
}
