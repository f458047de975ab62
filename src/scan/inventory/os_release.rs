//! `/etc/os-release` (or `/usr/lib/os-release`): which distribution and release an image is.

use crate::scan::package::Distro;

/// The distribution an os-release file names, `None` without a non-empty `ID`. Values follow
/// os-release(5): shell-style assignments, the last one of a name counting, quotes removed and
/// backslash escapes inside double quotes undone.
pub fn parse(text: &str) -> Option<Distro> {
    let value = |key: &str| {
        text.lines()
            .filter_map(|line| {
                let (k, v) = line.trim().split_once('=')?;
                (k == key).then(|| unquote(v.trim()))
            })
            .next_back()
    };
    Some(Distro {
        id: value("ID").filter(|id| !id.is_empty())?,
        version_id: value("VERSION_ID").unwrap_or_default(),
        pretty_name: value("PRETTY_NAME"),
        cpe_name: value("CPE_NAME"),
    })
}

/// `"a\"b"` → `a"b`, `'x'` → `x`, `plain` → `plain`.
fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        return out;
    }
    v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')).unwrap_or(v).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_id_and_version_id() {
        let d = parse("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n").unwrap();
        assert_eq!((d.id.as_str(), d.version_id.as_str()), ("debian", "12"));
        assert_eq!(d.pretty_name.as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(d.cpe_name, None);
        let fedora = parse("ID=fedora\nVERSION_ID=39\nCPE_NAME=\"cpe:/o:fedoraproject:fedora:39\"\n").unwrap();
        assert_eq!(fedora.cpe_name.as_deref(), Some("cpe:/o:fedoraproject:fedora:39"));
        let odd = parse("ID=first\nID=\"deb\\\"ian\"\nPRETTY_NAME='Odd One'\n").unwrap();
        assert_eq!(
            (odd.id.as_str(), odd.pretty_name.as_deref()),
            ("deb\"ian", Some("Odd One")),
            "the last ID counts, unescaped"
        );
        assert_eq!(parse("ID=\nVERSION_ID=1\n"), None, "an empty ID names nothing");
        assert_eq!(parse("NAME=x\n"), None);
    }
}
