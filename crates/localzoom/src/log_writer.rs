//! Log lines gathered in memory and written to stderr by a thread of their own, a burst at a time.
//!
//! A request must never wait for the terminal or the disk. Handing each line to a writer thread through a channel
//! (as `tracing_appender` does) wakes that thread once per line: under load those wake-ups, the writer's spinning
//! before it sleeps again and one `write` per line cost the server about a tenth of its CPU per read. Here a line
//! is appended to a buffer under a lock; only the first line into an empty buffer wakes the writer, which lets the
//! burst gather for a moment and writes it with one call.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::time::Duration;

/// How long the writer lets a burst gather: the most a line waits before it is written.
const GATHER: Duration = Duration::from_millis(20);
/// Lines beyond this many queued bytes are dropped and counted, so that a stalled stderr cannot grow memory.
const MAX_QUEUED: usize = 4 << 20;
/// The writer's buffer is given back down to this size after a burst larger than it.
const KEPT_CAPACITY: usize = 64 << 10;

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves bytes that are still whole lines: keep logging.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The writer the log subscriber formats each line into (one `write` per line).
#[derive(Clone)]
pub(crate) struct LogWriter(Arc<Shared>);

/// Writes what is still queued, and stops the writer thread, when dropped: waits for it at most `LAST_WRITE`, so
/// that a stalled stderr (a full pipe, a paused terminal) cannot keep the server from exiting.
pub(crate) struct FlushGuard {
    shared: Arc<Shared>,
    stopped: mpsc::Receiver<()>,
}

/// How long the guard waits for the last burst to be written.
const LAST_WRITE: Duration = Duration::from_secs(1);

/// Starts the writer thread over `out`.
pub(crate) fn start(out: impl Write + Send + 'static) -> io::Result<(LogWriter, FlushGuard)> {
    let shared = Arc::new(Shared::default());
    let (stop, stopped) = mpsc::channel();
    std::thread::Builder::new()
        .name("localzoom-log".into())
        .spawn({
            let shared = shared.clone();
            move || {
                write_bursts(&shared, out);
                let _ = stop.send(());
            }
        })?;
    Ok((LogWriter(shared.clone()), FlushGuard { shared, stopped }))
}

impl Write for LogWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut queue = self.0.queue();
        if queue.bytes.len() + line.len() > MAX_QUEUED {
            queue.dropped += 1;
            return Ok(line.len());
        }
        let first = queue.bytes.is_empty();
        queue.bytes.extend_from_slice(line);
        drop(queue);
        if first {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.wake.notify_one();
        let _ = self.stopped.recv_timeout(LAST_WRITE);
    }
}

fn write_bursts(shared: &Shared, mut out: impl Write) {
    let mut burst = Vec::new();
    loop {
        let mut queue = shared.queue();
        while queue.bytes.is_empty() && !queue.closed {
            queue = shared
                .wake
                .wait(queue)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if !queue.closed {
            drop(queue);
            std::thread::sleep(GATHER);
            queue = shared.queue();
        }
        std::mem::swap(&mut burst, &mut queue.bytes);
        let dropped = std::mem::take(&mut queue.dropped);
        let closed = queue.closed;
        drop(queue);
        // Nowhere is left to report a failed write to stderr; the next burst tries again.
        if dropped > 0 {
            let _ = writeln!(
                out,
                "localzoom: {dropped} log lines dropped: stderr did not keep up"
            );
        }
        let _ = out.write_all(&burst).and_then(|()| out.flush());
        burst.clear();
        burst.shrink_to(KEPT_CAPACITY);
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what the writer thread writes, with the number of `write_all` calls that carried it.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut collected = self.0.lock().unwrap();
            collected.0.extend_from_slice(bytes);
            collected.1 += 1;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_of_every_thread_is_written_whole_and_in_order_in_few_writes() {
        let out = Collected::default();
        let (writer, guard) = start(out.clone()).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let mut writer = writer.clone();
                scope.spawn(move || {
                    for n in 0..1000 {
                        writer
                            .write_all(format!("thread {thread} line {n}\n").as_bytes())
                            .unwrap();
                    }
                });
            }
        });
        drop(guard);
        let (bytes, writes) = out.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        for thread in 0..4 {
            let lines: Vec<&str> = text
                .lines()
                .filter(|line| line.starts_with(&format!("thread {thread} ")))
                .collect();
            let expected: Vec<String> = (0..1000)
                .map(|n| format!("thread {thread} line {n}"))
                .collect();
            assert_eq!(lines, expected);
        }
        assert_eq!(text.lines().count(), 4000);
        // 4,000 lines written within one gathering window or a few: far fewer writes than lines.
        assert!(writes < 100, "{writes} writes for 4,000 lines");
    }

    /// An output that blocks until the test lets it go.
    struct Stalled(mpsc::Receiver<()>, Collected);

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let _ = self.0.recv();
            self.1.write(bytes)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_neither_blocks_the_caller_nor_grows_the_queue_past_its_bound() {
        let (release, stalled) = mpsc::channel();
        let out = Collected::default();
        let (mut writer, guard) = start(Stalled(stalled, out.clone())).unwrap();
        writer.write_all(b"first\n").unwrap();
        // The writer takes the first burst and blocks on it; what follows queues up to the bound, then is dropped.
        std::thread::sleep(GATHER * 5);
        let mut line = [b'x'; 1024];
        line[1023] = b'\n';
        for _ in 0..(MAX_QUEUED / 1024 + 100) {
            writer.write_all(&line).unwrap();
        }
        assert!(writer.0.queue().bytes.len() <= MAX_QUEUED);
        let dropped = writer.0.queue().dropped;
        assert!(dropped >= 100, "{dropped} lines dropped");
        drop(release);
        drop(guard);
        let text = String::from_utf8(out.0.lock().unwrap().0.clone()).unwrap();
        assert!(text.starts_with("first\n"));
        assert!(
            text.contains(&format!("{dropped} log lines dropped")),
            "the count of dropped lines is reported"
        );
    }

    #[test]
    fn a_stderr_that_never_takes_the_last_burst_holds_up_the_exit_a_second_at_most() {
        let (_keep_stalled, stalled) = mpsc::channel::<()>();
        let (mut writer, guard) = start(Stalled(stalled, Collected::default())).unwrap();
        writer.write_all(b"never written\n").unwrap();
        let started = std::time::Instant::now();
        drop(guard);
        let waited = started.elapsed();
        assert!(
            waited >= LAST_WRITE && waited < LAST_WRITE * 3,
            "waited {waited:?}"
        );
    }
}
