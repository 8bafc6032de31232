//! Pure work split into a fixed number of jobs and run on every core. The
//! jobs, not the threads, define the result, so it is the same on a laptop
//! and on a 64-core server.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work(0..jobs)` on all cores; results in job order.
pub fn map<T: Send>(jobs: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs);
    if threads <= 1 {
        return (0..jobs).map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            return mine;
                        }
                        mine.push((job, work(job)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    done.sort_unstable_by_key(|(job, _)| *job);
    done.into_iter().map(|(_, result)| result).collect()
}

/// `f` over every item of `items`, in parallel chunks; results in item order.
pub fn map_items<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    const CHUNK: usize = 1 << 14;
    let jobs = items.len().div_ceil(CHUNK);
    map(jobs, |job| {
        items[job * CHUNK..((job + 1) * CHUNK).min(items.len())]
            .iter()
            .map(&f)
            .collect::<Vec<T>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The futures `job(0..parts)`, each driven on a thread of its own by the
/// runtime (reading files whose pages decode on the thread that polls
/// them); results in part order. On a runtime of one thread, one after
/// another.
pub async fn on_cores<T: Send, F: Future<Output = T>>(parts: usize, job: impl Fn(usize) -> F + Sync) -> Vec<T> {
    let handle = tokio::runtime::Handle::current();
    if parts <= 1 || handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        let mut done = Vec::with_capacity(parts);
        for part in 0..parts {
            done.push(job(part).await);
        }
        return done;
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..parts)
                .map(|part| {
                    let (job, handle) = (&job, &handle);
                    scope.spawn(move || handle.block_on(job(part)))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("a worker panicked"))
                .collect()
        })
    })
}

/// The cores to split work among.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_order() {
        let items: Vec<u64> = (0..100_000).collect();
        assert_eq!(
            super::map_items(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(5, |j| j), vec![0, 1, 2, 3, 4]);
        assert!(super::map(0, |j| j).is_empty());
    }
}
