//! `ThreadGroup`: every thread an engine starts (worker, model loader, disposal, reaper) is
//! counted in its group, so whoever owns the group can wait until none of them runs any more.
//!
//! A plugin must: the host may unload the plugin's library right after destroying an
//! instance, and a thread still running code from it then crashes the host. Counting is not
//! quite enough, because a thread still runs a few instructions of the library after its count
//! drops (its closure returns, std's thread exit path); so the first spawn also pins the
//! library for the life of the process ([`crate::native::pin_module_of`]). The engine's
//! threads never wait for each other on the host's thread (see [`super::worker`]); the plugin
//! waits for its whole group once, when the instance is destroyed.

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

/// A count of running threads, shared by every engine of one owner.
#[derive(Clone, Default)]
pub struct ThreadGroup(Arc<(Mutex<usize>, Condvar)>);

/// Decrements the count when its thread ends, however it ends.
struct Member(ThreadGroup);

impl Drop for Member {
    fn drop(&mut self) {
        let (count, ended) = &*(self.0).0;
        *count.lock() -= 1;
        ended.notify_all();
    }
}

impl ThreadGroup {
    /// A new, empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `f` on a thread named `name`, counted in this group until it returns.
    pub fn spawn<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<JoinHandle<T>> {
        static PIN: std::sync::Once = std::sync::Once::new();
        fn inside_this_library() {}
        PIN.call_once(|| {
            crate::native::pin_module_of(inside_this_library as *const std::ffi::c_void);
        });
        *self.0 .0.lock() += 1;
        let member = Member(self.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _member = member;
                f()
            })
        // On failure the closure, and `member` with it, is dropped: the count goes back.
    }

    /// Threads of this group still running.
    pub fn running(&self) -> usize {
        *self.0 .0.lock()
    }

    /// Blocks until no thread of the group runs.
    pub fn wait_all(&self) {
        let (count, ended) = &*self.0;
        let mut n = count.lock();
        while *n > 0 {
            ended.wait(&mut n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_all_returns_once_every_thread_ended() {
        let group = ThreadGroup::new();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        let waiting = group
            .spawn("test-member", move || {
                let _ = rx.lock().unwrap().recv();
            })
            .unwrap();
        assert_eq!(group.running(), 1);
        drop(tx);
        group.wait_all();
        assert_eq!(group.running(), 0);
        waiting.join().unwrap();
    }
}
