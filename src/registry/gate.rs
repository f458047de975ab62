//! Holding commits back. While the last bytes of a bundle are still being hashed, `load` may
//! open uploads and send their bytes, since an upload session's content is in no repository
//! before its closing `PUT` (distribution spec, "Pushing blobs"), but nothing may land in a
//! repository: no closing `PUT` of a blob, no cross-repository mount, no manifest or tag.

use super::retry::Failed;
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

    /// Refuse every commit from now on, whatever the gate says or will say (a load stopping
    /// on an error), until as many [`Registry::resume_commits`]: requests waiting for the
    /// gate are refused at once, retries of a commit stop before their next try, and uploads
    /// still sending stop at their next chunk and cancel their sessions.
    pub(crate) fn stop_commits(&self) {
        self.commits_stopped.send_modify(|n| *n += 1);
    }

    /// Undo one [`Registry::stop_commits`].
    pub(crate) fn resume_commits(&self) {
        self.commits_stopped.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Whether commits are held (see [`Registry::hold_commits`]).
    #[must_use]
    pub fn holds_commits(&self) -> bool {
        self.commit_gate.lock().map_or(true, |held| held.is_some())
    }

    /// Whether commits are stopped or the gate has already said no: an upload still sending
    /// stops there, and a commit does not try again.
    pub(super) fn commits_refused(&self) -> bool {
        if *self.commits_stopped.borrow() > 0 {
            return true;
        }
        match self.commit_gate.lock() {
            Ok(held) => held.as_ref().is_some_and(|gate| *gate.borrow() == Some(false)),
            Err(_) => true,
        }
    }

    /// A try of a commit that finds commits refused since the last one: what it fails with,
    /// so that no retry follows (the caller then reports [`Error::CommitRefused`], see
    /// [`Registry::commit_failure`]).
    pub(super) fn refused_try(&self) -> Option<Failed> {
        self.commits_refused().then(|| Failed::fatal(None, "commits were refused"))
    }

    /// The error for a commit that failed: [`Error::CommitRefused`] while commits are refused
    /// (its failure, whatever it was, no longer matters), else `otherwise`.
    pub(super) fn commit_failure(&self, target: &str, otherwise: impl FnOnce() -> Error) -> Error {
        if self.commits_refused() {
            Error::CommitRefused { target: target.to_owned() }
        } else {
            otherwise()
        }
    }

    /// Wait until `target` may be committed.
    ///
    /// # Errors
    /// [`Error::CommitRefused`] when the gate says no (or cannot be read).
    pub(super) async fn may_commit(&self, target: &str) -> Result<(), Error> {
        let refused = || Error::CommitRefused { target: target.to_owned() };
        let mut stopped = self.commits_stopped.subscribe();
        if *stopped.borrow_and_update() > 0 {
            return Err(refused());
        }
        let gate = match self.commit_gate.lock() {
            Ok(held) => held.clone(),
            Err(_) => return Err(refused()),
        };
        let Some(mut gate) = gate else { return Ok(()) };
        let passed = tokio::select! {
            verdict = gate.wait_for(Option::is_some) => matches!(verdict.as_deref(), Ok(Some(true))),
            _ = stopped.wait_for(|n| *n > 0) => false,
        };
        if passed && !self.commits_refused() {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_refuses_a_commit_waiting_for_an_undecided_gate_and_a_resume_lets_it_decide() {
        let client = Registry::new(&super::super::RegistryOptions::default()).unwrap();
        let (say, gate) = tokio::sync::watch::channel(None);
        client.hold_commits(gate);
        let waiting = client.may_commit("repo@sha256:x");
        let stop = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            client.stop_commits();
        };
        let (waited, ()) = tokio::join!(waiting, stop);
        assert!(matches!(waited, Err(Error::CommitRefused { .. })), "{waited:?}");
        assert!(client.commits_refused());
        // Two stops need two resumes.
        client.stop_commits();
        client.resume_commits();
        assert!(client.may_commit("repo@sha256:x").await.is_err());
        client.resume_commits();
        say.send(Some(true)).unwrap();
        assert!(client.may_commit("repo@sha256:x").await.is_ok());
        assert!(!client.commits_refused());
    }
}
