//! A byte budget shared by a session task and its protocol handles: messages hold a permit
//! for their size while they wait in a queue, so what a connection buffers is bounded in
//! bytes, not only in messages.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of queued messages; cloning shares the budget.
#[derive(Debug, Clone)]
pub(super) struct ByteBudget {
    semaphore: Arc<Semaphore>,
    limit: u32,
}

/// The share of a budget one queued message holds; released when dropped.
pub(super) type BudgetPermit = OwnedSemaphorePermit;

impl ByteBudget {
    /// A budget of `limit` bytes (at most `u32::MAX`).
    pub(super) fn new(limit: usize) -> Self {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        Self {
            semaphore: Arc::new(Semaphore::new(limit as usize)),
            limit,
        }
    }

    /// What a message of `len` bytes holds: its size, but never more than the whole budget, so
    /// a message larger than the budget still passes, alone.
    fn cost(&self, len: usize) -> u32 {
        u32::try_from(len).unwrap_or(u32::MAX).min(self.limit)
    }

    /// Takes the share of a `len`-byte message if it is free now.
    pub(super) fn try_acquire(&self, len: usize) -> Option<BudgetPermit> {
        Arc::clone(&self.semaphore)
            .try_acquire_many_owned(self.cost(len))
            .ok()
    }

    /// Waits until the share of a `len`-byte message is free (first come, first served).
    /// `None` only if the budget was closed, which nothing does.
    pub(super) async fn acquire(&self, len: usize) -> Option<BudgetPermit> {
        Arc::clone(&self.semaphore)
            .acquire_many_owned(self.cost(len))
            .await
            .ok()
    }

    /// Bytes currently held by queued messages.
    #[cfg(test)]
    pub(super) fn used(&self) -> usize {
        self.limit as usize - self.semaphore.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_hold_their_size_and_an_oversize_one_takes_the_whole_budget() {
        let budget = ByteBudget::new(1000);
        let a = budget.try_acquire(600).unwrap();
        assert_eq!(budget.used(), 600);
        assert!(budget.try_acquire(500).is_none(), "over the budget");
        let b = budget.try_acquire(400).unwrap();
        assert!(budget.try_acquire(1).is_none());
        assert!(
            budget.try_acquire(0).is_some(),
            "empty messages cost nothing"
        );
        drop((a, b));
        assert_eq!(budget.used(), 0);
        let huge = budget.try_acquire(1 << 24).unwrap();
        assert_eq!(
            budget.used(),
            1000,
            "capped at the budget: it passes, alone"
        );
        assert!(budget.try_acquire(1).is_none());
        drop(huge);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn acquire_waits_for_room() {
        let budget = ByteBudget::new(10);
        let held = budget.try_acquire(10).unwrap();
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.acquire(5).await.is_some() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        assert!(waiting.await.unwrap());
    }
}
