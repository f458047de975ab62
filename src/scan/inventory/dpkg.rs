//! Debian's package database: `var/lib/dpkg/status`, and the one-stanza files of
//! `var/lib/dpkg/status.d/` that distroless images carry instead.

use crate::scan::package::{Found, Kind};

/// The installed packages of a dpkg status file. In `status`, only stanzas whose `Status` ends
/// in `installed` count (removed packages leave `deinstall ok config-files` stanzas behind);
/// `status.d` stanzas have no `Status` and are all installed.
pub fn parse(text: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for (n, (line, stanza)) in super::paragraphs(text).enumerate() {
        let field = |name: &str| field(stanza, name);
        if let Some(status) = field("Status")
            && status.split_whitespace().last() != Some("installed")
        {
            continue;
        }
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else {
            return Err(format!("stanza {} has no Package or Version field", n + 1));
        };
        let mut found = Found::new(Kind::Deb, name, version);
        found.arch = field("Architecture").map(str::to_owned);
        found.line = Some(line);
        if let Some(source) = field("Source") {
            // `Source: name` or `Source: name (version)` when the source version differs.
            let (source_name, source_version) = match source.split_once(' ') {
                Some((n, v)) => (n, Some(v.trim().trim_start_matches('(').trim_end_matches(')'))),
                None => (source, None),
            };
            found.source = Some(source_name.to_owned());
            found.source_version = source_version.map(str::to_owned);
        }
        out.push(found);
    }
    Ok(out)
}

/// A field's value on its first line (continuation lines are not needed here).
fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (!line.starts_with([' ', '\t']) && key.eq_ignore_ascii_case(name)).then(|| value.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_source_and_binnmu_versions_and_skips_removed_packages() {
        let text = "Package: bsdutils\nStatus: install ok installed\nArchitecture: amd64\nSource: util-linux (2.38.1-5+deb12u3)\nVersion: 1:2.38.1-5+deb12u3\nDescription: x\n continued: not a field\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                    Package: libzstd1\nStatus: install ok installed\nSource: libzstd\nVersion: 1.5.4+dfsg2-5\n";
        let found = parse(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].line, found[1].line),
            (Some(1), Some(13)),
            "the lines the stanzas start on"
        );
        assert_eq!(found[0].name, "bsdutils");
        assert_eq!(found[0].version, "1:2.38.1-5+deb12u3");
        assert_eq!(found[0].source.as_deref(), Some("util-linux"));
        assert_eq!(found[0].source_version.as_deref(), Some("2.38.1-5+deb12u3"));
        assert_eq!(found[0].arch.as_deref(), Some("amd64"));
        assert_eq!(found[1].source.as_deref(), Some("libzstd"));
        assert_eq!(found[1].source_version, None);
    }

    #[test]
    fn a_stanza_without_a_version_is_an_error() {
        assert!(
            parse("Package: x\nStatus: install ok installed\n")
                .unwrap_err()
                .contains("stanza 1")
        );
    }
}
