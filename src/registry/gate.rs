//! Holding commits back. While the last bytes of a bundle are still being hashed, `load` may
//! open uploads and send their bytes, since an upload session's content is in no repository
//! before its closing `PUT` (distribution spec, "Pushing blobs"), but nothing may land in a
//! repository: no closing `PUT` of a blob, no cross-repository mount, no manifest or tag.

use super::{Error, Registry};

/// The verdict a held registry client waits for: `None` while hashing, `Some(true)` once
/// everything matched, `Some(false)` when something did not.
pub type CommitGate = tokio::sync::watch::Receiver<Option<bool>>;

impl Registry {
    /// From now on, every request that would commit something waits for `gate` to hold
    /// `Some(true)`; `Some(false)`, or the sender dropped before deciding, refuses it with
    /// [`Error::CommitRefused`].
    pub fn hold_commits(&self, gate: CommitGate) {
        match self.commit_gate.lock() {
            Ok(mut held) => *held = Some(gate),
            Err(poisoned) => *poisoned.into_inner() = Some(gate),
        }
    }

    /// Refuse every commit from now on, whatever the gate said (a load stopping on an error):
    /// uploads still sending stop at their next chunk and cancel their sessions. Returns the
    /// gate there was, for [`Registry::restore_commit_gate`].
    pub(crate) fn refuse_commits(&self) -> Option<CommitGate> {
        let (_, refused) = tokio::sync::watch::channel(Some(false));
        self.swap_commit_gate(Some(refused))
    }

    /// Put back the gate [`Registry::refuse_commits`] replaced.
    pub(crate) fn restore_commit_gate(&self, gate: Option<CommitGate>) {
        self.swap_commit_gate(gate);
    }

    fn swap_commit_gate(&self, gate: Option<CommitGate>) -> Option<CommitGate> {
        match self.commit_gate.lock() {
            Ok(mut held) => std::mem::replace(&mut *held, gate),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), gate),
        }
    }

    /// Whether commits are held (see [`Registry::hold_commits`]).
    #[must_use]
    pub fn holds_commits(&self) -> bool {
        self.commit_gate.lock().map_or(true, |held| held.is_some())
    }

    /// Whether the gate has already said no: an upload still sending stops there.
    pub(super) fn commits_refused(&self) -> bool {
        match self.commit_gate.lock() {
            Ok(held) => held.as_ref().is_some_and(|gate| *gate.borrow() == Some(false)),
            Err(_) => true,
        }
    }

    /// Wait until `target` may be committed.
    ///
    /// # Errors
    /// [`Error::CommitRefused`] when the gate says no (or cannot be read).
    pub(super) async fn may_commit(&self, target: &str) -> Result<(), Error> {
        let refused = || Error::CommitRefused { target: target.to_owned() };
        let gate = match self.commit_gate.lock() {
            Ok(held) => held.clone(),
            Err(_) => return Err(refused()),
        };
        let Some(mut gate) = gate else { return Ok(()) };
        match gate.wait_for(Option::is_some).await {
            Ok(verdict) if *verdict == Some(true) => Ok(()),
            _ => Err(refused()),
        }
    }
}
