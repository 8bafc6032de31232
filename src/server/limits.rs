//! What one query may use: a memory pool, a time limit covering planning
//! and streaming, and one of a fixed number of execution slots.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
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

    /// A slot to run a query in; waits up to the queue timeout for one.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Status> {
        match tokio::time::timeout(self.queue_timeout, Arc::clone(&self.slots).acquire_owned()).await {
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

/// A result stream that ends with DEADLINE_EXCEEDED once the query timeout
/// has passed, and holds its execution slot until it is finished or dropped
/// (a client that goes away drops it, which cancels the query).
pub struct Limited {
    inner: BoxStream<'static, Result<RecordBatch, Status>>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    finished: bool,
    permit: Option<OwnedSemaphorePermit>,
}

impl Limited {
    pub fn new(
        inner: BoxStream<'static, Result<RecordBatch, Status>>,
        timeout: Duration,
        permit: OwnedSemaphorePermit,
    ) -> Limited {
        Limited {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            finished: false,
            permit: Some(permit),
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        self.permit = None;
    }
}

impl Stream for Limited {
    type Item = Result<RecordBatch, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.finish();
            let message = format!("the query ran longer than its limit of {} s", self.timeout.as_secs());
            return Poll::Ready(Some(Err(Status::deadline_exceeded(message))));
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(None) => {
                self.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.finish();
                Poll::Ready(Some(Err(e)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn slots_run_out_and_come_back() {
        let limits = Limits::new(1 << 20, Duration::from_secs(5), 1, Duration::from_millis(50));
        let permit = limits.acquire().await.unwrap();
        let refused = limits.acquire().await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        drop(permit);
        assert!(limits.acquire().await.is_ok());
    }

    #[tokio::test]
    async fn a_slow_stream_is_cut_at_the_deadline_and_frees_its_slot() {
        let limits = Limits::new(1 << 20, Duration::from_secs(5), 1, Duration::from_millis(50));
        let permit = limits.acquire().await.unwrap();
        let never = futures::stream::pending::<Result<RecordBatch, Status>>().boxed();
        let mut limited = Limited::new(never, Duration::from_millis(30), permit);
        let first = limited.next().await.unwrap().unwrap_err();
        assert_eq!(first.code(), tonic::Code::DeadlineExceeded);
        assert!(limited.next().await.is_none());
        assert!(limits.acquire().await.is_ok(), "the slot is free again");
    }
}
