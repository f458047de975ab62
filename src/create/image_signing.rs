//! Release signatures for every image: both cosign formats over the digest users deploy and
//! over each platform manifest, written into the staging layout next to the image.

use crate::bundle::{PlatformRecord, SignatureOrigin, SignatureRecord};
use crate::oci::Descriptor;
use crate::sign::SigningKey;
use crate::sign::artifact::{self, Artifact};
use crate::source::PulledImage;
use crate::store::{Layout, REF_NAME_ANNOTATION};

use super::Error;

/// What signing one image added to the layout.
#[derive(Default)]
pub(super) struct Signed {
    /// Records for `bundle.json`.
    pub records: Vec<SignatureRecord>,
    /// Entries for the layout's `index.json`.
    pub top: Vec<Descriptor>,
    /// Every manifest and blob written, for the bundle.
    pub blobs: Vec<Descriptor>,
}

/// Sign `image` with `key`: its root and every runnable manifest in `platforms` (from
/// [`crate::bundle::graph_records`], so nested indexes' images are signed too). `identity` is
/// the repository named in legacy payloads (where the image came from); `created` (RFC 3339)
/// stamps the bundle referrers.
pub(super) fn sign_image(
    layout: &Layout,
    key: &SigningKey,
    image: &PulledImage,
    platforms: &[PlatformRecord],
    identity: &str,
    created: &str,
) -> Result<Signed, Error> {
    let mut subjects = vec![image.root.clone()];
    for p in platforms {
        let node = image
            .graph
            .nodes
            .get(&p.digest)
            .ok_or_else(|| Error::Task(format!("{}: platform manifest {} was not pulled", image.source, p.digest)))?;
        subjects.push(node.descriptor.clone());
    }
    let mut out = Signed::default();
    for subject in &subjects {
        let legacy = artifact::legacy_signature(key, identity, &subject.digest);
        let referrer = artifact::bundle_referrer(key, identity, subject, created)?;
        for a in [legacy, referrer] {
            let mut top = store(layout, &a, &mut out.blobs)?;
            if a.format == artifact::SignatureFormat::CosignLegacy {
                let name = format!("{}:{}", image.repository, artifact::legacy_tag(&subject.digest));
                top.annotations.insert(REF_NAME_ANNOTATION.to_owned(), name);
            }
            out.records.push(SignatureRecord {
                subject: subject.digest.clone(),
                format: a.format,
                manifest: a.manifest.descriptor.digest.clone(),
                origin: SignatureOrigin::Release,
            });
            out.top.push(top);
        }
    }
    Ok(out)
}

/// Write an artifact's blobs and manifest into the layout; returns the manifest descriptor.
pub(super) fn store(layout: &Layout, a: &Artifact, blobs: &mut Vec<Descriptor>) -> Result<Descriptor, Error> {
    for b in a.blobs.iter().chain(std::iter::once(&a.manifest)) {
        layout.write_blob(&b.bytes)?;
        blobs.push(b.descriptor.clone());
    }
    Ok(a.manifest.descriptor.clone())
}
