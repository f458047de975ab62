//! What the site registry should hold: the images of the verified bundles, each with the bundle
//! it comes from. When several bundles name the same repository and tag, the bundle created
//! last is the expectation (a site receives release after release).

use std::collections::BTreeMap;

use crate::bundle::ImageRecord;
use crate::verify::VerifiedBundle;

/// One image the registry must hold: the record, and which bundle (index into the list given)
/// says so.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub bundle: usize,
    pub image: &'a ImageRecord,
}

/// The images to check, one per repository and tag (or per repository and digest for an image
/// carried without a tag), in a stable order: repository, then tag.
#[must_use]
pub fn expectations<'a>(bundles: impl IntoIterator<Item = &'a VerifiedBundle>) -> Vec<Expected<'a>> {
    let mut by_name: BTreeMap<(String, String), (Expected<'a>, time::OffsetDateTime)> = BTreeMap::new();
    for (i, bundle) in bundles.into_iter().enumerate() {
        let created = time::OffsetDateTime::parse(&bundle.index().created, &time::format_description::well_known::Rfc3339)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        for image in &bundle.index().images {
            let at = image.tag.clone().unwrap_or_else(|| image.digest.to_string());
            let key = (image.repository.clone(), at);
            let candidate = (Expected { bundle: i, image }, created);
            match by_name.get(&key) {
                // The same release given twice, or an older one: keep what is there.
                Some((_, seen)) if *seen >= created => {}
                _ => {
                    by_name.insert(key, candidate);
                }
            }
        }
    }
    by_name.into_values().map(|(e, _)| e).collect()
}
