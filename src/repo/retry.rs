//! The one retry loop of storage requests, and the concurrency governor that throttling drives.
//!
//! The S3 client's own retries are off: every request goes through [`S3Store`]'s loop, which
//! uses [`Backoff`] to decide whether and when to send it again, and [`Gate`] to decide how many
//! requests may be in flight. Nothing above the store retries a storage request again, so the
//! attempts of a request are exactly the ones counted here.
//!
//! - Transient failures (5xx, timeouts, connections reset or refused, a body cut mid-stream):
//!   up to [`Policy::transient_attempts`] attempts with capped exponential backoff and jitter.
//! - Throttling (503 SlowDown, 429 and the throttling codes): the gate halves the requests
//!   in flight (at most once per [`CUT_SPACING`]), the request waits longer (up to
//!   [`Policy::throttled_attempts`] attempts), and each success adds back a fraction of a
//!   request, so the concurrency ramps up again by one per window of successes (AIMD, as TCP
//!   does). Throttling means "slower", not "fail".
//! - Every retry is reported to the [`RetryObserver`] of the task that sent the request (a job
//!   sets one with [`observed`]): that is how SHOW BACKUP / SHOW RESTORE count a job's retries
//!   and show the errors it met, even when two jobs share a repository.
//!
//! [`S3Store`]: super::s3::S3Store

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::store::StoreError;

/// How a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Not at all: the request is wrong, or the credentials, or the object is missing.
    Permanent,
    /// A server error, a timeout or a connection failure: try again after a short backoff.
    Transient,
    /// The storage asks to slow down: fewer requests in flight, and a longer backoff.
    Throttled,
}

/// Attempts and pauses of the retry loop.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts of a request that keeps failing transiently, the first included.
    pub transient_attempts: u32,
    /// Attempts of a request the storage keeps throttling, the first included.
    pub throttled_attempts: u32,
    /// The first pause; each retry doubles it up to the cap.
    pub base: Duration,
    pub transient_cap: Duration,
    pub throttled_cap: Duration,
}

/// The store's policy: a transient failure is tried 5 times (pauses of about 0.25, 0.5, 1 and
/// 2 s); a throttled request up to 12 times (pauses growing to 20 s, about two and a half
/// minutes in all), while the gate lowers the concurrency.
pub const POLICY: Policy = Policy {
    transient_attempts: 5,
    throttled_attempts: 12,
    base: Duration::from_millis(250),
    transient_cap: Duration::from_secs(5),
    throttled_cap: Duration::from_secs(20),
};

/// The retry state of one request: failures are counted by class, so throttling that ended
/// does not use up the attempts of a later server error, nor the reverse.
#[derive(Debug)]
pub struct Backoff {
    policy: Policy,
    transient: u32,
    throttled: u32,
}

impl Backoff {
    pub fn new(policy: Policy) -> Backoff {
        Backoff {
            policy,
            transient: 0,
            throttled: 0,
        }
    }

    /// After a failed attempt of `class`: the pause before the next one, or `None` when the
    /// request must fail now. The pause is half fixed, half random ("equal jitter"), so
    /// requests that failed together do not come back together.
    pub fn next(&mut self, class: Class) -> Option<Duration> {
        let (failures, limit, cap) = match class {
            Class::Permanent => return None,
            Class::Transient => (
                &mut self.transient,
                self.policy.transient_attempts,
                self.policy.transient_cap,
            ),
            Class::Throttled => (
                &mut self.throttled,
                self.policy.throttled_attempts,
                self.policy.throttled_cap,
            ),
        };
        *failures += 1;
        if *failures >= limit {
            return None;
        }
        let full = self
            .policy
            .base
            .saturating_mul(1 << (*failures - 1).min(16))
            .min(cap);
        let half = full / 2;
        Some(half + half.mul_f64(rand::random::<f64>()))
    }
}

/// Told of every retry of a request sent from its task.
pub trait RetryObserver: Send + Sync {
    /// The attempt of operation `what` failed with `error` and will be tried again.
    fn retried(&self, what: &str, error: &StoreError);

    /// A request of kind `op` (`get`, `put`, `list`, `head`, `delete`, ...) was sent: every
    /// attempt and every LIST page counts.
    fn requested(&self, _op: &'static str) {}
}

tokio::task_local! {
    static OBSERVER: Arc<dyn RetryObserver>;
}

/// Runs `fut` with `observer` told of the retries of every storage request it sends (in this
/// task: a request sent from a spawned task is not observed).
pub async fn observed<F: std::future::Future>(
    observer: Arc<dyn RetryObserver>,
    fut: F,
) -> F::Output {
    OBSERVER.scope(observer, fut).await
}

/// Counts one storage request of kind `op`: in the metrics, and for the current task's observer
/// (a job counts it in its Progress).
pub fn report_request(op: &'static str) {
    crate::metrics::METRICS.storage_request(op);
    let _ = OBSERVER.try_with(|o| o.requested(op));
}

/// Reports a retry to the current task's observer, if it has one (a job counts it in its
/// figures and the metrics).
pub fn report(what: &str, error: &StoreError) {
    let _ = OBSERVER.try_with(|o| o.retried(what, error));
}

/// Never more requests in flight than this through one store (far above any job's `parallel`:
/// only throttling makes the gate bind).
pub const CEILING: f64 = 256.0;
/// The gate halves its limit at most once in this span: the requests that were in flight when
/// the storage first said "slow down" come back throttled too, and count as the same signal.
pub const CUT_SPACING: Duration = Duration::from_secs(1);

/// How many requests one store may have in flight, lowered by throttling and raised again by
/// successes (additive increase, multiplicative decrease).
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
    changed: tokio::sync::Notify,
}

#[derive(Debug)]
struct GateState {
    /// Requests allowed in flight (its floor, at least 1).
    limit: f64,
    in_flight: u32,
    last_cut: Option<Instant>,
    /// Times the limit was lowered.
    cuts: u64,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            state: Mutex::new(GateState {
                limit: CEILING,
                in_flight: 0,
                last_cut: None,
                cuts: 0,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for room under the limit; the permit holds it until dropped.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            // Registered before the check, so a release between the two is not missed.
            let notified = self.changed.notified();
            {
                let mut s = self.lock();
                if f64::from(s.in_flight) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit {
                        gate: Arc::clone(self),
                    };
                }
            }
            notified.await;
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> u32 {
        // The limit is between 1 and CEILING.
        self.lock().limit.floor() as u32
    }

    /// Times throttling lowered the limit.
    pub fn cuts(&self) -> u64 {
        self.lock().cuts
    }

    fn succeeded(&self) {
        let raised = {
            let mut s = self.lock();
            if s.limit >= CEILING {
                return;
            }
            let before = s.limit.floor();
            s.limit = (s.limit + 1.0 / s.limit).min(CEILING);
            (s.limit.floor() > before).then_some(s.limit.floor())
        };
        if let Some(limit) = raised {
            if limit < 64.0 {
                tracing::debug!(limit, "storage requests in flight raised");
            }
            self.changed.notify_waiters();
        }
    }

    fn throttled(&self) {
        let mut s = self.lock();
        if s.last_cut.is_some_and(|t| t.elapsed() < CUT_SPACING) {
            return;
        }
        // Half of what was really in flight (the limit may be far above it).
        let base = s.limit.min(f64::from(s.in_flight.max(1)));
        s.limit = (base / 2.0).max(1.0);
        s.last_cut = Some(Instant::now());
        s.cuts += 1;
        tracing::info!(
            limit = s.limit.floor(),
            "the storage is throttling: requests in flight lowered"
        );
    }
}

/// Room for one request in flight; tells the gate how the request went.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
}

impl Permit {
    /// The request succeeded: the limit creeps up again.
    pub fn succeeded(&self) {
        self.gate.succeeded();
    }

    /// The request was throttled: the limit is halved.
    pub fn throttled(&self) {
        self.gate.throttled();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.gate.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.gate.changed.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_gives_up_by_class() {
        let mut b = Backoff::new(POLICY);
        assert_eq!(b.next(Class::Permanent), None);
        let mut b = Backoff::new(POLICY);
        let pauses: Vec<_> = std::iter::from_fn(|| b.next(Class::Transient)).collect();
        assert_eq!(pauses.len(), 4, "5 attempts, 4 pauses");
        for (i, p) in pauses.iter().enumerate() {
            let full = POLICY.base * (1 << i);
            assert!(*p >= full / 2 && *p <= full, "{i}: {p:?}");
        }
        let mut b = Backoff::new(POLICY);
        let pauses: Vec<_> = std::iter::from_fn(|| b.next(Class::Throttled)).collect();
        assert_eq!(pauses.len(), 11);
        assert!(pauses.iter().all(|p| *p <= POLICY.throttled_cap));
        let total: Duration = pauses.iter().sum();
        assert!(total > Duration::from_secs(60), "{total:?}");
        // The classes count apart: after 11 throttles a server error still has its 4 retries.
        assert!(b.next(Class::Transient).is_some());
    }

    #[tokio::test]
    async fn throttling_halves_the_requests_in_flight_then_successes_ramp_up() {
        let gate = Arc::new(Gate::default());
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(gate.acquire().await);
        }
        // Throttled with 8 in flight: 4 allowed. A second signal within the spacing does not cut
        // again.
        held.pop().unwrap().throttled();
        assert_eq!(gate.limit(), 4);
        held.pop().unwrap().throttled();
        assert_eq!(gate.limit(), 4);
        assert_eq!(gate.cuts(), 1);
        // 6 still in flight, limit 4: a new request waits until 3 of them are done.
        let waiting = {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move { gate.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        for _ in 0..2 {
            drop(held.pop());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "4 in flight is the limit");
        drop(held.pop());
        let permit = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        held.push(permit);
        drop(held);
        // Successes raise the limit by one per window of `limit` successes.
        for _ in 0..4 {
            gate.acquire().await.succeeded();
        }
        assert_eq!(gate.limit(), 4, "4 + 4 x 1/4 rounds just under 5");
        gate.acquire().await.succeeded();
        assert_eq!(gate.limit(), 5);
        for _ in 0..200 {
            gate.acquire().await.succeeded();
        }
        assert!(gate.limit() >= 20, "{}", gate.limit());
    }

    #[tokio::test]
    async fn a_lone_request_keeps_one_slot() {
        let gate = Arc::new(Gate::default());
        for _ in 0..10 {
            let p = gate.acquire().await;
            std::thread::sleep(CUT_SPACING / 50);
            p.throttled();
            // Spacing the cuts past CUT_SPACING is slow; force a new cut.
            gate.lock().last_cut = None;
        }
        assert_eq!(gate.limit(), 1);
        drop(
            tokio::time::timeout(Duration::from_secs(1), gate.acquire())
                .await
                .unwrap(),
        );
    }
}
