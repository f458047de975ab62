//! Alpine's package database, `lib/apk/db/installed`: one paragraph per package, one
//! `X:value` line per field (`P` name, `V` version, `A` architecture, `o` origin).

use crate::scan::package::{Found, Kind};

/// The installed packages, one per paragraph; a paragraph without `P` or `V` is an error.
pub fn parse(text: &str) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    for (n, (line, block)) in super::paragraphs(text).enumerate() {
        let field = |key: &str| block.lines().find_map(|l| l.strip_prefix(key)).map(str::to_owned);
        let (Some(name), Some(version)) = (field("P:"), field("V:")) else {
            return Err(format!("entry {} has no P: or V: line", n + 1));
        };
        let mut found = Found::new(Kind::Apk, name, version);
        found.arch = field("A:");
        found.source = field("o:");
        found.line = Some(line);
        out.push(found);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_version_origin() {
        let text =
            "C:Q1abc=\nP:libcrypto1.1\nV:1.1.1k-r0\nA:x86_64\no:openssl\nF:lib\nR:libcrypto.so.1.1\n\nP:musl\nV:1.2.2-r3\no:musl\n\n";
        let found = parse(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].name.as_str(), found[0].version.as_str()), ("libcrypto1.1", "1.1.1k-r0"));
        assert_eq!(found[0].source.as_deref(), Some("openssl"));
        assert_eq!(found[1].arch, None);
        assert_eq!((found[0].line, found[1].line), (Some(1), Some(9)));
        let spaced = parse("\n\n\nP:a\nV:1\n\n\n\nP:b\nV:2\n").unwrap();
        assert_eq!((spaced[0].line, spaced[1].line), (Some(4), Some(9)), "extra blank lines counted");
        assert!(parse("P:x\n").is_err());
    }
}
