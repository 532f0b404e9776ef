//! A body checked as it streams: each chunk, then its end, passes through a `BodyCheck`, and
//! the first rule it breaks fails the stream at that point. Handed to `put_stream`, a refused
//! body therefore stores nothing, and nothing past the refusal is read. The check stays
//! readable through `CheckedOutcome` once the store is done with the stream.

use bytes::Bytes;
use futures_core::Stream;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use super::{BlobBody, BlobError};

/// Rules on a body, applied chunk by chunk and at its end.
pub trait BodyCheck: Send + 'static {
    /// Why a body is refused.
    type Refusal: Copy + fmt::Debug + Send + 'static;

    /// # Errors
    /// The rule `chunk` breaks.
    fn chunk(&mut self, chunk: &Bytes) -> Result<(), Self::Refusal>;

    /// # Errors
    /// The rule the whole body breaks.
    fn end(&mut self) -> Result<(), Self::Refusal>;
}

struct Shared<C: BodyCheck> {
    check: C,
    refusal: Option<C::Refusal>,
    ended: bool,
}

/// The check of a body that `BlobBody::checked` wrapped.
pub struct CheckedOutcome<C: BodyCheck>(Arc<Mutex<Shared<C>>>);

impl<C: BodyCheck> Clone for CheckedOutcome<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C: BodyCheck> CheckedOutcome<C> {
    fn lock(&self) -> MutexGuard<'_, Shared<C>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rule the body broke, if it broke one.
    pub fn refusal(&self) -> Option<C::Refusal> {
        self.lock().refusal
    }

    /// `f` applied to the check of a body read to its end without a refusal; `None` otherwise.
    pub fn passed<R>(&self, f: impl FnOnce(&mut C) -> R) -> Option<R> {
        let mut shared = self.lock();
        (shared.ended && shared.refusal.is_none()).then(|| f(&mut shared.check))
    }
}

impl BlobBody {
    /// This body, failing at the first chunk (or at the end) that `check` refuses.
    pub fn checked<C: BodyCheck>(self, check: C) -> (BlobBody, CheckedOutcome<C>) {
        let outcome =
            CheckedOutcome(Arc::new(Mutex::new(Shared { check, refusal: None, ended: false })));
        let stream = CheckedBody { inner: self, outcome: outcome.clone() };
        (BlobBody::new(stream), outcome)
    }
}

struct CheckedBody<C: BodyCheck> {
    inner: BlobBody,
    outcome: CheckedOutcome<C>,
}

impl<C: BodyCheck> Stream for CheckedBody<C> {
    type Item = Result<Bytes, BlobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.outcome.refusal().is_some() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        let mut shared = self.outcome.lock();
        let checked = match &polled {
            Poll::Ready(Some(Ok(chunk))) => shared.check.chunk(chunk),
            Poll::Ready(None) => {
                shared.ended = true;
                shared.check.end()
            }
            Poll::Ready(Some(Err(_))) | Poll::Pending => Ok(()),
        };
        match checked {
            Ok(()) => polled,
            Err(refusal) => {
                shared.refusal = Some(refusal);
                Poll::Ready(Some(Err(BlobError::backend(format!("body refused: {refusal:?}")))))
            }
        }
    }
}
