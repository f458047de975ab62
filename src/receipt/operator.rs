//! Who ran the command: the numeric ids the kernel acted on, plus the names they map to here.

use serde::{Deserialize, Serialize};

/// The operator of a run, as the process sees itself.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Operator {
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective user id, when it differs from `uid` (a setuid run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    /// The user name `uid` maps to in this host's user database, if any.
    pub user: Option<String>,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
    /// The host name.
    pub host: String,
}

impl Operator {
    /// The current process's identity. Names that cannot be looked up are left out rather
    /// than guessed; the numeric ids are always there.
    #[must_use]
    pub fn current() -> Self {
        use nix::unistd::{User, geteuid, getgid, getgroups, gethostname, getuid};
        let uid = getuid();
        let euid = geteuid();
        let mut groups: Vec<u32> = getgroups().map(|g| g.into_iter().map(|g| g.as_raw()).collect()).unwrap_or_default();
        groups.sort_unstable();
        groups.dedup();
        Self {
            uid: uid.as_raw(),
            gid: getgid().as_raw(),
            euid: (euid != uid).then(|| euid.as_raw()),
            user: User::from_uid(uid).ok().flatten().map(|u| u.name),
            groups,
            host: gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }
}
