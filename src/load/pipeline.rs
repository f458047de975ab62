//! The order of a load's requests, with up to `--jobs` running at once: every distinct blob
//! (largest first) into the first repository that needs it, then mounted into the others;
//! as soon as all of an image's blobs are in, its manifests (children first) and the first
//! round of its signature objects (see [`signatures`](super::signatures)). Images that are the
//! same manifest in the same repository go together, so that they do not rewrite their
//! signature tags at the same moment; other images whose signatures share a tag (an index and
//! one of its platform manifests, both listed) may, and the read-back rounds reconcile them.
//!
//! Nothing waits for a whole step to finish across all images: a small image's manifests and
//! signatures go while a large layer of another is still uploading.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;

use super::blobs::{self, BlobWork, Destination, Mounts, Pushed};
use super::signatures::{self, Object};
use super::{Error, ImagePlan};
use crate::progress::Reporter;
use crate::registry::Registry;
use crate::verify::VerifiedBundle;

/// What the pipeline did.
pub(super) struct Outcome {
    /// Per image: what became of each of its blobs.
    pub blobs: Vec<Vec<Pushed>>,
    /// Per image: manifests pushed by digest.
    pub manifests: Vec<usize>,
    /// Per object: manifests pushed in its first round.
    pub object_pushes: Vec<usize>,
    /// Objects the first round did not find in place yet (to settle).
    pub unsettled: Vec<usize>,
    /// How long each first-round step took (a read-merge-write of one signature tag).
    pub step_times: Vec<std::time::Duration>,
}

/// Everything the pipeline reads.
pub(super) struct Load<'a> {
    pub bundle: &'a VerifiedBundle,
    pub client: &'a Registry,
    pub plans: &'a [ImagePlan<'a>],
    pub destinations: &'a [Destination<'a>],
    pub work: &'a [BlobWork<'a>],
    pub objects: &'a [Object<'a>],
    /// The image each object belongs to.
    pub owners: &'a [usize],
    pub reporter: &'a dyn Reporter,
}

enum Item {
    /// A distinct blob into the first repository that needs it.
    First(usize),
    /// A blob (work index) into one more repository, for the images listed (all in that
    /// repository), from the repository holding it.
    Follow(usize, Vec<usize>, String),
    /// A group of images (the same manifest in the same repository): manifests, then the
    /// first round of their signature objects.
    Images(usize),
}

enum Done {
    First(usize, Pushed),
    Follow(Vec<usize>, Pushed),
    Images(usize, Vec<usize>, Vec<(usize, bool, usize, std::time::Duration)>),
}

type Running<'a> = Pin<Box<dyn Future<Output = Result<Done, Error>> + Send + 'a>>;

/// Run the load's blob, manifest and first signature requests.
pub(super) async fn run(load: &Load<'_>) -> Result<Outcome, Error> {
    let images = load.plans.len();
    // Images that are the same manifest in the same repository form one group, led by the
    // first of them.
    let group: Vec<usize> = (0..images)
        .map(|i| {
            (0..i)
                .find(|&j| {
                    load.plans[j].target.repository == load.plans[i].target.repository && load.plans[j].digest == load.plans[i].digest
                })
                .unwrap_or(i)
        })
        .collect();
    let mut waiting = vec![0usize; images];
    for w in load.work {
        for &i in &w.images {
            waiting[group[i]] += 1;
        }
    }
    let mut outcome = Outcome {
        blobs: vec![Vec::new(); images],
        manifests: vec![0; images],
        object_pushes: vec![0; load.objects.len()],
        unsettled: Vec::new(),
        step_times: Vec::new(),
    };
    let mut queue: VecDeque<Item> = (0..load.work.len()).map(Item::First).collect();
    for g in (0..images).filter(|&i| group[i] == i && waiting[i] == 0) {
        queue.push_front(Item::Images(g));
    }
    let mounts = Mounts::default();
    let mut running: FuturesUnordered<Running<'_>> = FuturesUnordered::new();
    let jobs = load.client.jobs();
    loop {
        while running.len() < jobs {
            let Some(item) = queue.pop_front() else { break };
            running.push(start(load, &mounts, &group, item));
        }
        let Some(done) = running.next().await else { break };
        let mut blob_in = |i: usize, pushed: Pushed, queue: &mut VecDeque<Item>| {
            outcome.blobs[i].push(pushed);
            let g = group[i];
            waiting[g] -= 1;
            if waiting[g] == 0 {
                queue.push_front(Item::Images(g));
            }
        };
        match done? {
            Done::First(w, pushed) => {
                let work = &load.work[w];
                let first = work.images[0];
                blob_in(first, pushed, &mut queue);
                let holder = &load.destinations[first].target.repository;
                // One placement per repository: the other images there find it present.
                let mut by_repository: Vec<(&String, Vec<usize>)> = Vec::new();
                for &i in &work.images[1..] {
                    let repository = &load.destinations[i].target.repository;
                    if repository == holder {
                        blob_in(i, Pushed::Present, &mut queue);
                    } else if let Some((_, images)) = by_repository.iter_mut().find(|(r, _)| *r == repository) {
                        images.push(i);
                    } else {
                        by_repository.push((repository, vec![i]));
                    }
                }
                for (_, images) in by_repository {
                    queue.push_front(Item::Follow(w, images, holder.clone()));
                }
            }
            Done::Follow(images, pushed) => {
                for (n, i) in images.into_iter().enumerate() {
                    blob_in(i, if n == 0 { pushed } else { Pushed::Present }, &mut queue);
                }
            }
            Done::Images(g, manifests, stepped) => {
                for (i, n) in (0..images).filter(|&i| group[i] == g).zip(manifests) {
                    outcome.manifests[i] = n;
                }
                for (o, done, n, took) in stepped {
                    outcome.step_times.push(took);
                    outcome.object_pushes[o] += n;
                    if !done {
                        outcome.unsettled.push(o);
                    }
                }
            }
        }
    }
    outcome.unsettled.sort_unstable();
    Ok(outcome)
}

fn start<'a>(load: &'a Load<'a>, mounts: &'a Mounts, group: &'a [usize], item: Item) -> Running<'a> {
    match item {
        Item::First(w) => Box::pin(async move {
            let work = &load.work[w];
            let to = &load.destinations[work.images[0]];
            let pushed = blobs::into_repository(load.bundle, load.client, to, work.desc, load.reporter).await?;
            Ok(Done::First(w, pushed))
        }),
        Item::Follow(w, images, from) => Box::pin(async move {
            let desc = load.work[w].desc;
            let to = &load.destinations[images[0]];
            let pushed = blobs::follow(load.bundle, load.client, to, desc, &from, mounts, load.reporter).await?;
            Ok(Done::Follow(images, pushed))
        }),
        Item::Images(g) => Box::pin(async move {
            let mut manifests = Vec::new();
            for i in (0..load.plans.len()).filter(|&i| group[i] == g) {
                manifests.push(super::push_manifests(load.bundle, load.client, &load.plans[i]).await?);
            }
            let mut stepped = Vec::new();
            for (o, object) in load.objects.iter().enumerate().filter(|(o, _)| group[load.owners[*o]] == g) {
                let started = std::time::Instant::now();
                let (done, n) = signatures::step(load.client, object, 0).await?;
                stepped.push((o, done, n, started.elapsed()));
            }
            Ok(Done::Images(g, manifests, stepped))
        }),
    }
}
