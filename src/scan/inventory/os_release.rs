//! `/etc/os-release` (or `/usr/lib/os-release`): which distribution and release an image is.

use crate::scan::package::Distro;

pub fn parse(text: &str) -> Option<Distro> {
    let value = |key: &str| {
        text.lines().find_map(|line| {
            let (k, v) = line.trim().split_once('=')?;
            (k == key).then(|| v.trim().trim_matches(['"', '\'']).to_owned())
        })
    };
    Some(Distro {
        id: value("ID")?,
        version_id: value("VERSION_ID").unwrap_or_default(),
        pretty_name: value("PRETTY_NAME"),
        cpe_name: value("CPE_NAME"),
    })
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
        assert_eq!(parse("NAME=x\n"), None);
    }
}
