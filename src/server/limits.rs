//! What one query may use: a memory pool, a time limit covering planning
//! and streaming, and one of a fixed number of execution slots.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::Status;

#[derive(Clone)]
pub struct Limits {
    pub query_memory: usize,
    pub query_timeout: Duration,
    pub queue_timeout: Duration,
    pub max_concurrent: usize,
    slots: Arc<Semaphore>,
}

impl Limits {
    pub fn new(query_memory: usize, query_timeout: Duration, max_concurrent: usize, queue_timeout: Duration) -> Limits {
        Limits {
            query_memory,
            query_timeout,
            queue_timeout,
            max_concurrent,
            slots: Arc::new(Semaphore::new(max_concurrent)),
        }
    }

    /// Refuses new queries (at shutdown); running ones go on.
    pub fn close(&self) {
        self.slots.close();
    }

    /// When a query starting now must be done, planning included.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.query_timeout
    }

    /// A slot to run a query in; waits up to the queue timeout (and never
    /// past the query's deadline) for one.
    pub async fn acquire(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Status> {
        let until = deadline.min(Instant::now() + self.queue_timeout);
        match tokio::time::timeout_at(until, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Status::unavailable("the server is shutting down")),
            Err(_) => Err(Status::resource_exhausted(format!(
                "the server is already running its maximum of {} queries and none finished within {} s; try again later",
                self.max_concurrent,
                self.queue_timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_run_out_and_come_back() {
        let limits = Limits::new(1 << 20, Duration::from_secs(5), 1, Duration::from_millis(50));
        let permit = limits.acquire(limits.deadline()).await.unwrap();
        let refused = limits.acquire(limits.deadline()).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop(permit);
        assert!(limits.acquire(limits.deadline()).await.is_ok());
    }
}
