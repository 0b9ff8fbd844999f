//! The receive side of one simulated socket: datagrams in flight ordered by arrival time,
//! one timer for the earliest, and the tasks waiting to receive.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use tokio::time::{sleep_until, Instant, Sleep};

/// Locks a mutex, ignoring poisoning: every critical section here leaves the state valid.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One datagram on its way to (or waiting in) a socket.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) at: Instant,
    /// Arrival order among datagrams due at the same instant.
    pub(super) order: u64,
    pub(super) from: SocketAddr,
    pub(super) data: Box<[u8]>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Reversed so that `BinaryHeap` (a max-heap) pops the earliest datagram first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The tasks blocked in `poll_recv_from`; waking the set wakes all of them.
///
/// The delivery timer is polled with this set as its waker, so a timer firing reaches every
/// receiver instead of only the one that happened to arm it.
#[derive(Debug, Default)]
pub(super) struct Waiters {
    wakers: Mutex<Vec<Waker>>,
}

impl Waiters {
    pub(super) fn register(&self, waker: &Waker) {
        let mut wakers = lock(&self.wakers);
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *lock(&self.wakers));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// Why a datagram was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejected {
    Full,
    Closed,
}

/// Datagrams in flight to one socket plus the timer for the earliest of them.
#[derive(Debug)]
pub(super) struct Inbox {
    queue: BinaryHeap<Queued>,
    capacity: usize,
    next_order: u64,
    timer: Option<Pin<Box<Sleep>>>,
    timer_deadline: Option<Instant>,
    closed: bool,
}

/// What a receive attempt found.
pub(super) enum Take {
    Ready(Queued),
    Pending,
}

impl Inbox {
    pub(super) fn new(capacity: usize) -> Self {
        Inbox {
            queue: BinaryHeap::new(),
            capacity,
            next_order: 0,
            timer: None,
            timer_deadline: None,
            closed: false,
        }
    }

    /// Queues a datagram. Returns whether receivers must be woken now (it is already due).
    pub(super) fn push(
        &mut self,
        at: Instant,
        from: SocketAddr,
        data: Box<[u8]>,
        timer_waker: &Waker,
    ) -> Result<bool, Rejected> {
        if self.closed {
            return Err(Rejected::Closed);
        }
        if self.queue.len() >= self.capacity {
            return Err(Rejected::Full);
        }
        let order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        self.queue.push(Queued {
            at,
            order,
            from,
            data,
        });
        let is_earliest = self.queue.peek().is_some_and(|q| q.order == order);
        if !is_earliest {
            return Ok(false);
        }
        if at <= Instant::now() {
            return Ok(true);
        }
        Ok(self.arm(timer_waker))
    }

    /// Takes the earliest datagram if it is due; otherwise registers `waker` and arms the
    /// timer for the earliest datagram.
    pub(super) fn take(&mut self, waker: &Waker, waiters: &Waiters, timer_waker: &Waker) -> Take {
        if let Some(queued) = self.pop_due() {
            return Take::Ready(queued);
        }
        waiters.register(waker);
        if self.arm(timer_waker) {
            // The timer says the earliest is due even if our clock reading disagreed.
            if let Some(queued) = self.queue.pop() {
                return Take::Ready(queued);
            }
        }
        Take::Pending
    }

    fn pop_due(&mut self) -> Option<Queued> {
        let due = self.queue.peek().is_some_and(|q| q.at <= Instant::now());
        if due {
            self.queue.pop()
        } else {
            None
        }
    }

    /// Makes the timer fire (waking `timer_waker`) when the earliest datagram is due.
    /// Returns true if it is due already.
    fn arm(&mut self, timer_waker: &Waker) -> bool {
        let Some(at) = self.queue.peek().map(|q| q.at) else {
            return false;
        };
        let timer = match &mut self.timer {
            Some(timer) => {
                if self.timer_deadline != Some(at) {
                    timer.as_mut().reset(at);
                }
                timer
            }
            slot @ None => slot.insert(Box::pin(sleep_until(at))),
        };
        self.timer_deadline = Some(at);
        // Polling registers the timer with the runtime; if the task budget is exhausted the
        // poll wakes `timer_waker` instead, and a woken receiver arms it again.
        let mut cx = Context::from_waker(timer_waker);
        matches!(timer.as_mut().poll(&mut cx), Poll::Ready(()))
    }

    /// Closes the inbox and returns how many datagrams were still queued.
    pub(super) fn close(&mut self) -> usize {
        self.closed = true;
        self.timer = None;
        self.timer_deadline = None;
        let pending = self.queue.len();
        self.queue.clear();
        pending
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}
