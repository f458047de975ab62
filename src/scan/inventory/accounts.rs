//! `/etc/passwd` and `/etc/group` of an image: what turns the config's `User` (`nginx`,
//! `app:app`, `1000:staff`) into the numeric IDs a container runtime would use. Kubernetes
//! can only check `runAsNonRoot` against a numeric user, so hardening needs the number.

use std::collections::BTreeMap;

/// The user and group databases of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounts {
    /// Name -> (UID, primary GID), first entry of a name wins (as getpwnam does).
    users: BTreeMap<String, (u32, u32)>,
    groups: BTreeMap<String, u32>,
}

/// A user spec resolved to numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    /// The group the spec names, or the named user's primary group.
    pub gid: Option<u32>,
}

impl Accounts {
    /// Reads `name:password:uid:gid:...` lines; comments, NIS (`+`/`-`) and malformed lines are
    /// skipped.
    pub fn add_passwd(&mut self, text: &str) {
        for fields in records(text) {
            if let [name, _, uid, gid, ..] = fields[..]
                && let (Ok(uid), Ok(gid)) = (uid.parse(), gid.parse())
            {
                self.users.entry(name.to_owned()).or_insert((uid, gid));
            }
        }
    }

    /// Reads `name:password:gid:members` lines.
    pub fn add_group(&mut self, text: &str) {
        for fields in records(text) {
            if let [name, _, gid, ..] = fields[..]
                && let Ok(gid) = gid.parse()
            {
                self.groups.entry(name.to_owned()).or_insert(gid);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// Resolves an OCI config `User`: a user name or UID, optionally followed by `:` and a group
    /// name or GID. A name the databases do not have is an error naming it.
    pub fn resolve(&self, spec: &str) -> Result<Ids, String> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let (uid, primary) = match user.parse::<u32>() {
            Ok(uid) => (uid, self.users.values().find(|(u, _)| *u == uid).map(|(_, g)| *g)),
            Err(_) => match self.users.get(user) {
                Some(&(uid, gid)) => (uid, Some(gid)),
                None => return Err(format!("no user `{user}` in the image's /etc/passwd")),
            },
        };
        let gid = match group {
            None | Some("") => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => Some(gid),
                Err(_) => match self.groups.get(g) {
                    Some(&gid) => Some(gid),
                    None => return Err(format!("no group `{g}` in the image's /etc/group")),
                },
            },
        };
        Ok(Ids { uid, gid })
    }
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('+') && !l.starts_with('-'))
        .map(|l| l.split(':').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> Accounts {
        let mut a = Accounts::default();
        a.add_passwd(
            "root:x:0:0:root:/root:/bin/bash\n# comment\n+nis\nnginx:x:101:101:nginx user:/nonexistent:/bin/false\n\
             broken:x:abc:1\nnginx:x:999:999::/:/bin/false\nnode:x:1000:1000::/home/node:/bin/sh\n",
        );
        a.add_group("root:x:0:\nnginx:x:101:\nstaff:x:50:node\n");
        a
    }

    #[test]
    fn names_become_numbers_as_the_runtime_resolves_them() {
        let a = accounts();
        assert_eq!(a.resolve("nginx"), Ok(Ids { uid: 101, gid: Some(101) }));
        assert_eq!(a.resolve("node:staff"), Ok(Ids { uid: 1000, gid: Some(50) }));
        assert_eq!(a.resolve("node:7"), Ok(Ids { uid: 1000, gid: Some(7) }));
        assert_eq!(
            a.resolve("1000"),
            Ok(Ids {
                uid: 1000,
                gid: Some(1000)
            })
        );
        assert_eq!(a.resolve("4242"), Ok(Ids { uid: 4242, gid: None }));
        assert_eq!(a.resolve("root"), Ok(Ids { uid: 0, gid: Some(0) }));
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let a = accounts();
        assert_eq!(a.resolve("broken"), Err("no user `broken` in the image's /etc/passwd".into()));
        assert_eq!(a.resolve("nginx:wheel"), Err("no group `wheel` in the image's /etc/group".into()));
        assert!(Accounts::default().resolve("app").is_err());
    }
}
