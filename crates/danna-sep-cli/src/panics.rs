//! Panics as one-line errors. A panic in the CLI is a bug, but the user still gets one line
//! and a clean exit (partial files removed as the panic unwinds), not a backtrace: the hook
//! prints nothing and keeps the message for [`catch`], on the thread that panicked.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// The message of this thread's last panic, with where it happened.
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default panic hook (which prints several lines) with one that only records.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = payload_text(info.payload());
        let text = match info.location() {
            Some(at) => format!("{message} ({}:{})", at.file(), at.line()),
            None => message,
        };
        LAST.with(|last| *last.borrow_mut() = Some(text));
    }));
}

/// Runs `f`; a panic in it becomes `Err("internal error: <message> (<file>:<line>)")`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // Nothing `f` touched is used after a panic: the caller reports it and stops.
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let text = LAST
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| payload_text(payload.as_ref()));
        format!("internal error: {}", text.replace('\n', " "))
    })
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The hook is process-wide, so it is not installed here (it would silence every other
    // test's failure); the CLI tests run the binary, which installs it.
    #[test]
    fn a_panic_becomes_one_line_with_its_message() {
        let err = catch(|| -> u32 { panic!("two\nlines") }).unwrap_err();
        assert!(err.starts_with("internal error: two lines"), "{err}");
        assert_eq!(catch(|| 7), Ok(7));
    }
}
