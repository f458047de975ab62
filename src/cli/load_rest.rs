//! The part of a bundle's verification that `load` runs alongside its pushes: the content of
//! large layers, which `sealift::verify::verify_deferring` left to hash. Their uploads start at
//! once; the registry client holds every commit until this thread has hashed them all and
//! they matched, and refuses every commit if one did not. So a bundle that fails here has
//! pushed nothing, as if it had failed before the first request.

use std::cell::{OnceCell, RefCell};
use std::thread::{Scope, ScopedJoinHandle};

use sealift::registry::CommitGate;
use sealift::verify::{Failure, FailureCode, VerifiedBundle, VerifyReport};

use super::output::Progress;

/// Blobs over this many bytes are hashed here rather than before the first request: those
/// uploaded in chunks, whose bytes can go up before the commit. Smaller ones (configs,
/// signatures, scan reports) go up in the one request that commits them, so there is nothing
/// to overlap; they are hashed before anything starts.
pub(super) const OVER: u64 = sealift::registry::WHOLE_UPLOAD_MAX;

/// The rest of verification, under way.
pub(super) struct Rest<'scope> {
    gate: CommitGate,
    thread: RefCell<Option<ScopedJoinHandle<'scope, Vec<Failure>>>>,
    failures: OnceCell<Vec<Failure>>,
}

/// A load stopped because the rest of verification failed (see [`Rest::failures`]).
#[derive(Debug)]
pub(super) struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the bundle failed verification")
    }
}

impl std::error::Error for Failed {}

impl<'scope> Rest<'scope> {
    /// Start hashing what `verified` left pending. Once all of it matched, `table` (the
    /// verification report, when the output is a table) is printed, then commits may go.
    pub(super) fn start<'env>(
        scope: &'scope Scope<'scope, 'env>,
        verified: &'scope VerifiedBundle,
        table: Option<&'scope VerifyReport>,
    ) -> Self {
        let (verdict, gate) = tokio::sync::watch::channel(None);
        let thread = scope.spawn(move || {
            super::background_thread();
            let failures = verified.check_pending(&Progress::new());
            if failures.is_empty()
                && let Some(report) = table
            {
                super::verify::render_table(report);
            }
            let _ = verdict.send(Some(failures.is_empty()));
            failures
        });
        Self {
            gate,
            thread: RefCell::new(Some(thread)),
            failures: OnceCell::new(),
        }
    }

    /// What a registry client waits on before committing anything.
    pub(super) fn gate(&self) -> CommitGate {
        self.gate.clone()
    }

    /// Wait for the hashing to end: what did not match (empty when everything did).
    pub(super) fn failures(&self) -> &[Failure] {
        self.failures
            .get_or_init(|| match self.thread.borrow_mut().take().map(ScopedJoinHandle::join) {
                Some(Ok(failures)) => failures,
                Some(Err(_)) | None => vec![Failure::new(
                    FailureCode::MalformedArchive,
                    "bundle",
                    "hashing the bundle's remaining entries stopped unexpectedly",
                )],
            })
    }

    /// Wait for the hashing to end: whether everything matched.
    pub(super) fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}
