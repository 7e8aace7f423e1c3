//! How a watcher retries after an error: 0.5 s, doubling to at most 5 s, and from the start
//! again once it has listed. kube-runtime's default back-off climbs to 30 s, so after an API
//! server outage a watcher could sit idle for half a minute after the server was back; an
//! operator's console must be live again within seconds. Each watcher's delays are offset a
//! little (by its index) so that they do not all knock at the same instant.

use std::time::Duration;

/// The first delay.
const FIRST: Duration = Duration::from_millis(500);
/// The longest delay.
const LONGEST: Duration = Duration::from_secs(5);

/// Retry delays for one watcher.
#[derive(Debug, Clone)]
pub struct Reconnect {
    next: Duration,
    offset: Duration,
}

impl Reconnect {
    /// Delays for the watcher with this index.
    pub fn new(index: usize) -> Self {
        Self {
            next: FIRST,
            offset: Duration::from_millis(37 * (index as u64 % 16)),
        }
    }

    /// Start over from the first delay (the watcher got data).
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

impl Iterator for Reconnect {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 2).min(LONGEST);
        Some(now + self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_five_seconds_and_starts_over_after_a_reset() {
        let mut b = Reconnect::new(0);
        let ms: Vec<u128> = b.by_ref().take(6).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(FIRST));
        assert_eq!(Reconnect::new(2).next(), Some(Duration::from_millis(574)));
    }
}
