//! The order of a load's requests, with up to `--jobs` running at once: every distinct blob
//! (largest first) into the first repository that needs it, then mounted into the others;
//! as soon as all of an image's own blobs are in, its manifests (children first); as soon as
//! the blobs of its signature objects are in, their first round (see
//! [`signatures`](super::signatures)), without waiting for the image's layers: they name the
//! image by digest. The distribution spec (v1.1, "Pushing Manifests") has registries accept a
//! referrer whose `subject` is not there yet; a registry that refuses one anyway (some did)
//! gets it again once the image's manifests are in. No tag points at the image before its
//! signatures are settled.
//! Once every first round is done, the later rounds (read back, merge again where another
//! writer replaced ours) run alongside whatever blobs are still going up.
//!
//! Images that are the same manifest in the same repository go together, so that they do not
//! rewrite their signature tags at the same moment; other images whose signatures share a tag
//! (an index and one of its platform manifests, both listed) may, and the read-back rounds
//! reconcile them.
//!
//! Nothing waits for a whole step to finish across all images: a small image's manifests and
//! signatures go while a large layer of another is still uploading. The `--jobs` bound is one
//! semaphore: every item below takes a permit for its requests, and the read-back rounds take
//! one per tag they rewrite.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
    /// Per object: manifests pushed for it over all its rounds.
    pub object_pushes: Vec<usize>,
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
    /// A group of images (the same manifest in the same repository): their manifests.
    Manifests(usize),
    /// A group's signature objects: their first round (`true`: the group's manifests are in
    /// already).
    Signatures(usize, bool),
    /// A group's referrers the registry refused before its image was in: their first round
    /// again.
    Referrers(usize, Vec<usize>),
}

enum Done {
    First(usize, Pushed),
    Follow(usize, Vec<usize>, Pushed),
    Manifests(usize, Vec<usize>),
    /// The group, each object's (index, done, manifests pushed, time), and the referrers to
    /// push again once the image is in.
    Signatures(usize, Vec<(usize, bool, usize, Duration)>, Vec<usize>),
    /// Manifests pushed per object in the later rounds.
    Settled(Vec<usize>),
}

type Running<'a> = Pin<Box<dyn Future<Output = Result<Done, Error>> + Send + 'a>>;

/// What still holds back each group's manifests and signatures: blobs not in yet.
struct Waiting {
    /// The group (its first image) of each image.
    group: Vec<usize>,
    manifests: Vec<usize>,
    signatures: Vec<usize>,
    /// The group's manifests are in.
    manifests_in: Vec<bool>,
    /// Referrers refused before the group's manifests were in.
    refused: Vec<Vec<usize>>,
}

impl Waiting {
    fn new(load: &Load<'_>) -> Self {
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
        let mut waiting = Self {
            manifests: vec![0; images],
            signatures: vec![0; images],
            manifests_in: vec![false; images],
            refused: vec![Vec::new(); images],
            group,
        };
        for w in load.work {
            for &i in &w.images {
                let (m, s) = load.plans[i].waits_for(&w.desc.digest);
                let g = waiting.group[i];
                waiting.manifests[g] += usize::from(m);
                waiting.signatures[g] += usize::from(s);
            }
        }
        waiting
    }

    /// Blob `digest` is in image `i`'s repository: what that lets start.
    fn blob_in(&mut self, load: &Load<'_>, i: usize, digest: &crate::oci::Digest, queue: &mut VecDeque<Item>) {
        let (m, s) = load.plans[i].waits_for(digest);
        let g = self.group[i];
        if m {
            self.manifests[g] -= 1;
            if self.manifests[g] == 0 {
                queue.push_front(Item::Manifests(g));
            }
        }
        if s {
            self.signatures[g] -= 1;
            if self.signatures[g] == 0 {
                self.signatures_ready(load, g, queue);
            }
        }
    }

    /// Group `g`'s signature blobs are in: their first round goes.
    fn signatures_ready(&self, load: &Load<'_>, g: usize, queue: &mut VecDeque<Item>) {
        if has_objects(load, &self.group, g) {
            queue.push_front(Item::Signatures(g, self.manifests_in[g]));
        }
    }

    /// Group `g`'s manifests are in: referrers refused before go again.
    fn manifests_done(&mut self, g: usize, queue: &mut VecDeque<Item>) {
        self.manifests_in[g] = true;
        let refused = std::mem::take(&mut self.refused[g]);
        if !refused.is_empty() {
            queue.push_front(Item::Referrers(g, refused));
        }
    }

    /// Referrers of group `g` refused before its manifests were in: again once they are.
    fn refused_early(&mut self, g: usize, refused: Vec<usize>, queue: &mut VecDeque<Item>) {
        if self.manifests_in[g] {
            queue.push_front(Item::Referrers(g, refused));
        } else {
            self.refused[g] = refused;
        }
    }
}

/// Whether group `g` has signature objects.
fn has_objects(load: &Load<'_>, group: &[usize], g: usize) -> bool {
    load.owners.iter().any(|&owner| group[owner] == g)
}

/// Run the load's blob, manifest and signature requests.
pub(super) async fn run(load: &Load<'_>) -> Result<Outcome, Error> {
    let images = load.plans.len();
    let mut waiting = Waiting::new(load);
    let group = waiting.group.clone();
    let mut outcome = Outcome {
        blobs: vec![Vec::new(); images],
        manifests: vec![0; images],
        object_pushes: vec![0; load.objects.len()],
    };
    // The largest blob first (the longest transfer bounds the load), then the small blobs
    // only signature objects need (their first round, and the read-back after it, then run
    // while the layers still upload), then the rest, largest first.
    let signature_only = |w: usize| {
        let work = &load.work[w];
        work.images
            .iter()
            .all(|&i| load.plans[i].waits_for(&work.desc.digest) == (false, true))
    };
    let mut order: Vec<usize> = (0..load.work.len()).collect();
    order.sort_by_key(|&w| match w {
        0 => 0,
        w if signature_only(w) => 1,
        _ => 2,
    });
    let mut queue: VecDeque<Item> = order.into_iter().map(Item::First).collect();
    let leaders: Vec<usize> = (0..images).filter(|&i| group[i] == i).collect();
    for &g in &leaders {
        if waiting.manifests[g] == 0 {
            queue.push_front(Item::Manifests(g));
        }
        if waiting.signatures[g] == 0 {
            waiting.signatures_ready(load, g, &mut queue);
        }
    }
    let mut first_rounds_left = leaders.iter().filter(|&&g| has_objects(load, &group, g)).count();
    let mut unsettled: Vec<usize> = Vec::new();
    let mut step_times: Vec<Duration> = Vec::new();
    let mounts = Mounts::default();
    let permits = Arc::new(Semaphore::new(load.client.jobs()));
    let mut running: FuturesUnordered<Running<'_>> = FuturesUnordered::new();
    loop {
        // Start what the free permits allow; the read-back rounds take theirs as they go.
        while let Some(item) = queue.pop_front() {
            match Arc::clone(&permits).try_acquire_owned() {
                Ok(permit) => running.push(start(load, &mounts, &group, item, permit)),
                Err(_) => {
                    queue.push_front(item);
                    break;
                }
            }
        }
        let done = if queue.is_empty() {
            running.next().await
        } else {
            // A permit freed inside the read-back rounds starts the next item too.
            tokio::select! {
                done = running.next() => done,
                Ok(permit) = Arc::clone(&permits).acquire_owned() => {
                    if let Some(item) = queue.pop_front() {
                        running.push(start(load, &mounts, &group, item, permit));
                    }
                    continue;
                }
            }
        };
        let Some(done) = done else { break };
        let done = match done {
            Ok(done) => done,
            Err(e) => {
                stop(load.client, &mut running).await;
                return Err(e);
            }
        };
        match done {
            Done::First(w, pushed) => {
                let work = &load.work[w];
                let digest = &work.desc.digest;
                let first = work.images[0];
                outcome.blobs[first].push(pushed);
                waiting.blob_in(load, first, digest, &mut queue);
                let holder = &load.destinations[first].target.repository;
                // One placement per repository: the other images there find it present.
                let mut by_repository: Vec<(&String, Vec<usize>)> = Vec::new();
                for &i in &work.images[1..] {
                    let repository = &load.destinations[i].target.repository;
                    if repository == holder {
                        outcome.blobs[i].push(Pushed::Present);
                        waiting.blob_in(load, i, digest, &mut queue);
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
            Done::Follow(w, images, pushed) => {
                for (n, i) in images.into_iter().enumerate() {
                    outcome.blobs[i].push(if n == 0 { pushed } else { Pushed::Present });
                    waiting.blob_in(load, i, &load.work[w].desc.digest, &mut queue);
                }
            }
            Done::Manifests(g, manifests) => {
                for (i, n) in (0..images).filter(|&i| group[i] == g).zip(manifests) {
                    outcome.manifests[i] = n;
                }
                waiting.manifests_done(g, &mut queue);
            }
            Done::Signatures(g, stepped, refused) => {
                if !refused.is_empty() {
                    first_rounds_left += 1;
                    waiting.refused_early(g, refused, &mut queue);
                }
                for (o, done, n, took) in stepped {
                    step_times.push(took);
                    outcome.object_pushes[o] += n;
                    if !done {
                        unsettled.push(o);
                    }
                }
                first_rounds_left -= 1;
                if first_rounds_left == 0 && !unsettled.is_empty() {
                    // Every first round is done: the later rounds, with whatever else is
                    // still running.
                    unsettled.sort_unstable();
                    let (pending, times) = (std::mem::take(&mut unsettled), std::mem::take(&mut step_times));
                    running.push(settle(load, pending, times, Arc::clone(&permits)));
                }
            }
            Done::Settled(pushed) => {
                for (total, n) in outcome.object_pushes.iter_mut().zip(pushed) {
                    *total += n;
                }
            }
        }
    }
    Ok(outcome)
}

/// How long a stopping load waits for what is still running to wind down.
const WIND_DOWN: Duration = Duration::from_secs(10);

/// After an error: nothing more is committed, and what is still running winds down (uploads
/// stop at their next chunk and cancel their sessions, so the registry is not left holding
/// half-sent blobs) for at most [`WIND_DOWN`], after which it is dropped. The client commits
/// again afterwards.
async fn stop(client: &Registry, running: &mut FuturesUnordered<Running<'_>>) {
    client.stop_commits();
    let _ = tokio::time::timeout(WIND_DOWN, async { while running.next().await.is_some() {} }).await;
    client.resume_commits();
}

fn start<'a>(load: &'a Load<'a>, mounts: &'a Mounts, group: &'a [usize], item: Item, permit: OwnedSemaphorePermit) -> Running<'a> {
    match item {
        Item::First(w) => Box::pin(async move {
            let _permit = permit;
            let work = &load.work[w];
            let to = &load.destinations[work.images[0]];
            let pushed = blobs::into_repository(load.bundle, load.client, to, work.desc, load.reporter).await?;
            Ok(Done::First(w, pushed))
        }),
        Item::Follow(w, images, from) => Box::pin(async move {
            let _permit = permit;
            let desc = load.work[w].desc;
            let to = &load.destinations[images[0]];
            let pushed = blobs::follow(load.bundle, load.client, to, desc, &from, mounts, load.reporter).await?;
            Ok(Done::Follow(w, images, pushed))
        }),
        Item::Manifests(g) => Box::pin(async move {
            let _permit = permit;
            let mut manifests = Vec::new();
            for i in (0..load.plans.len()).filter(|&i| group[i] == g) {
                manifests.push(super::push_manifests(load.bundle, load.client, &load.plans[i]).await?);
            }
            Ok(Done::Manifests(g, manifests))
        }),
        Item::Signatures(g, image_in) => Box::pin(async move {
            let _permit = permit;
            let (mut stepped, mut refused) = (Vec::new(), Vec::new());
            for (o, object) in load.objects.iter().enumerate().filter(|(o, _)| group[load.owners[*o]] == g) {
                let started = std::time::Instant::now();
                match signatures::step(load.client, object, 0).await {
                    Ok((done, n)) => stepped.push((o, done, n, started.elapsed())),
                    // Maybe its subject is not there yet: again once it is.
                    Err(e) if object.has_subject() && !image_in && !e.is_commit_refused() => {
                        load.reporter.note(&format!(
                            "{}: the registry refused a referrer before its image was in ({e}); pushing it again after the image",
                            object.image
                        ));
                        refused.push(o);
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(Done::Signatures(g, stepped, refused))
        }),
        Item::Referrers(g, objects) => Box::pin(async move {
            let _permit = permit;
            let mut stepped = Vec::new();
            for o in objects {
                let started = std::time::Instant::now();
                let (done, n) = signatures::step(load.client, &load.objects[o], 0).await?;
                stepped.push((o, done, n, started.elapsed()));
            }
            Ok(Done::Signatures(g, stepped, Vec::new()))
        }),
    }
}

/// The later rounds of `pending`, each step under one of `permits`.
fn settle<'a>(load: &'a Load<'a>, pending: Vec<usize>, step_times: Vec<Duration>, permits: Arc<Semaphore>) -> Running<'a> {
    Box::pin(async move {
        let mut pushed = vec![0; load.objects.len()];
        signatures::settle(
            load.client,
            load.objects,
            pending,
            &mut pushed,
            1,
            step_times,
            load.client.jobs(),
            Some(&permits),
        )
        .await?;
        Ok(Done::Settled(pushed))
    })
}
