//! Hands the ingress workers' batches to the service in arrival order, without making a worker
//! wait for another.
//!
//! Each worker takes a run of arrival tickets with every batch it receives (see
//! [`super::ingress`]). A batch may finish verifying before an earlier one; instead of idling
//! until the earlier batch is handed over (which kept one core idle while the other signed, and
//! held two workers to ~1.2× one), the worker parks its batch here and goes back to the socket.
//! Whoever hands over the batch a parked one was waiting for delivers it too, in ticket order.
//!
//! Parking is bounded: a worker that would park more than the limit waits for the hand-over to
//! catch up before it receives again, so a stalled worker cannot make the others queue without
//! end.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Batches in ticket order, parked until every earlier ticket is handed over.
#[derive(Debug)]
pub(crate) struct Handover<T> {
    state: Mutex<State<T>>,
    /// Signalled whenever batches are delivered, for workers waiting for room.
    delivered: Notify,
    max_parked: usize,
}

#[derive(Debug)]
struct State<T> {
    /// The first ticket not yet handed over.
    next: u64,
    /// Batches waiting for an earlier one, keyed by their first ticket.
    parked: BTreeMap<u64, Parked<T>>,
}

#[derive(Debug)]
struct Parked<T> {
    tickets: u64,
    items: Vec<T>,
}

/// What [`Handover::submit`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Submitted {
    /// Delivered, with this many parked batches after it.
    Delivered { unparked: usize },
    /// Parked behind an earlier batch.
    Parked,
}

impl<T> Handover<T> {
    /// A hand-over starting at ticket 0 that parks at most `max_parked` batches before
    /// [`Handover::wait_for_room`] makes workers wait.
    pub(crate) fn new(max_parked: usize) -> Self {
        Self {
            state: Mutex::new(State {
                next: 0,
                parked: BTreeMap::new(),
            }),
            delivered: Notify::new(),
            max_parked: max_parked.max(1),
        }
    }

    /// Submits the batch of tickets `first..first + tickets` (its `items` are what survived
    /// verification, in ticket order; a dropped datagram is a ticket without an item). When it
    /// is next in line it and every parked batch that follows it go to `deliver`, in order;
    /// otherwise it is parked and `items` is left empty.
    pub(crate) fn submit(
        &self,
        first: u64,
        tickets: u64,
        items: &mut Vec<T>,
        mut deliver: impl FnMut(T),
    ) -> Submitted {
        if tickets == 0 {
            return Submitted::Delivered { unparked: 0 };
        }
        let mut guard = match self.state.lock() {
            Ok(guard) => guard,
            // A worker that panicked while delivering left nothing half-done that matters:
            // tickets only move forward.
            Err(poisoned) => poisoned.into_inner(),
        };
        let state = &mut *guard;
        if first != state.next {
            debug_assert!(first > state.next, "ticket {first} handed over twice");
            let items = std::mem::replace(items, Vec::with_capacity(items.capacity()));
            state.parked.insert(first, Parked { tickets, items });
            return Submitted::Parked;
        }
        items.drain(..).for_each(&mut deliver);
        state.next = first + tickets;
        let mut unparked = 0;
        while let Some(entry) = state.parked.first_entry() {
            if *entry.key() != state.next {
                break;
            }
            let parked = entry.remove();
            parked.items.into_iter().for_each(&mut deliver);
            state.next += parked.tickets;
            unparked += 1;
        }
        drop(guard);
        self.delivered.notify_waiters();
        Submitted::Delivered { unparked }
    }

    /// Waits while the parked batches are at the limit.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            let delivered = self.delivered.notified();
            tokio::pin!(delivered);
            // Registered before the check, so a delivery between check and wait still wakes.
            delivered.as_mut().enable();
            if self.parked() < self.max_parked {
                return;
            }
            delivered.await;
        }
    }

    fn parked(&self) -> usize {
        match self.state.lock() {
            Ok(state) => state.parked.len(),
            Err(poisoned) => poisoned.into_inner().parked.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn submit(handover: &Handover<u32>, first: u64, tickets: u64, items: &[u32]) -> Vec<u32> {
        let mut items = items.to_vec();
        let mut out = Vec::new();
        handover.submit(first, tickets, &mut items, |item| out.push(item));
        assert!(items.is_empty(), "a submitted batch keeps nothing");
        out
    }

    #[test]
    fn a_batch_that_finishes_early_waits_parked_and_goes_out_after_the_earlier_one() {
        let handover = Handover::new(8);
        // Tickets 0..3 (one dropped: two items), 3..5 and 5..6 finish in the order 5, 3, 0.
        assert_eq!(submit(&handover, 5, 1, &[50]), Vec::<u32>::new());
        assert_eq!(submit(&handover, 3, 2, &[30, 40]), Vec::<u32>::new());
        assert_eq!(handover.parked(), 2);
        assert_eq!(submit(&handover, 0, 3, &[0, 20]), vec![0, 20, 30, 40, 50]);
        assert_eq!(handover.parked(), 0);
        // And the next batch is in line again.
        assert_eq!(submit(&handover, 6, 1, &[60]), vec![60]);
    }

    #[test]
    fn a_batch_whose_datagrams_were_all_dropped_still_unblocks_the_next() {
        let handover = Handover::new(8);
        assert_eq!(submit(&handover, 4, 1, &[4]), Vec::<u32>::new());
        assert_eq!(submit(&handover, 0, 4, &[]), vec![4]);
    }

    #[test]
    fn only_the_contiguous_run_is_unparked() {
        let handover = Handover::new(8);
        submit(&handover, 2, 1, &[2]);
        submit(&handover, 4, 1, &[4]);
        let mut items = vec![0, 1];
        let mut out = Vec::new();
        let submitted = handover.submit(0, 2, &mut items, |item| out.push(item));
        assert_eq!(submitted, Submitted::Delivered { unparked: 1 });
        assert_eq!(out, vec![0, 1, 2]);
        assert_eq!(submit(&handover, 3, 1, &[3]), vec![3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_waits_for_room_only_while_the_limit_is_reached() {
        let handover = std::sync::Arc::new(Handover::new(2));
        handover.wait_for_room().await;
        submit(&handover, 1, 1, &[1]);
        handover.wait_for_room().await;
        submit(&handover, 2, 1, &[2]);
        let waiting = tokio::spawn({
            let handover = std::sync::Arc::clone(&handover);
            async move { handover.wait_for_room().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "two batches are parked: no room");
        assert_eq!(submit(&handover, 0, 1, &[0]), vec![0, 1, 2]);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the hand-over made room")
            .expect("the waiter ended");
    }
}
