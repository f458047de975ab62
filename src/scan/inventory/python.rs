//! Python distributions: the `Name` and `Version` headers of `*.dist-info/METADATA` and
//! `*.egg-info/PKG-INFO` (or an `*.egg-info` file), which are e-mail style headers.

use crate::scan::package::{Found, Kind};

/// Is this path a Python distribution's metadata file?
pub fn is_metadata(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA") || path.ends_with(".egg-info/PKG-INFO") || path.ends_with(".egg-info")
}

/// Read the header block (everything before the first blank line).
pub fn parse(text: &str) -> Result<Found, String> {
    let header = |key: &str| {
        text.lines().take_while(|l| !l.trim().is_empty()).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(key).then(|| v.trim().to_owned())
        })
    };
    match (header("Name"), header("Version")) {
        (Some(name), Some(version)) if !name.is_empty() && !version.is_empty() => Ok(Found::new(Kind::Pypi, name, version)),
        _ => Err("no Name or Version header".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_block_only() {
        let f = parse("Metadata-Version: 2.1\nName: Django\nVersion: 3.2\n\nVersion: 9.9 in the description\n").unwrap();
        assert_eq!((f.name.as_str(), f.version.as_str()), ("Django", "3.2"));
        assert!(parse("Metadata-Version: 2.1\n\nName: x\nVersion: 1\n").is_err());
        assert!(is_metadata("usr/lib/python3/dist-packages/six-1.16.0.egg-info"));
        assert!(is_metadata("venv/lib/python3.11/site-packages/urllib3-1.23.dist-info/METADATA"));
        assert!(!is_metadata("venv/lib/python3.11/site-packages/urllib3-1.23.dist-info/RECORD"));
    }
}
