//! The core's error types and the one helper that turns any error into the one line a user
//! sees (the plugin's status line, the CLI's stderr).

pub use crate::modelset::ModelSetError;
pub use crate::runtime::RuntimeLoadError;

/// Why a backend could not be created or could not separate a window.
#[derive(Debug, thiserror::Error)]
pub enum SeparationError {
    /// ONNX Runtime could not be loaded.
    #[error(transparent)]
    Runtime(#[from] RuntimeLoadError),
    /// The model set is missing, broken or lacks what was asked for.
    #[error(transparent)]
    ModelSet(#[from] ModelSetError),
    /// One ONNX model failed at some stage (opening, binding, inference, its output's shape).
    #[error("model '{model}': {stage}: {detail}")]
    Model {
        /// The model's name in the manifest.
        model: String,
        /// What was being done.
        stage: String,
        /// What went wrong.
        detail: String,
    },
    /// A window of another length than the backend was prepared for.
    #[error("window of {got} frames, prepared for {prepared}")]
    WindowLength {
        /// Frames handed in.
        got: usize,
        /// Frames prepared for.
        prepared: usize,
    },
    /// The sample rate converter could not be built for these rates.
    #[error("resampler {from} -> {to} Hz: {detail}")]
    Resampler {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's reason.
        detail: String,
    },
    /// A helper thread could not start or died.
    #[error("{0}")]
    Thread(String),
    /// Code on the inference side panicked; the panic was caught on its thread.
    #[error("{stage} panicked: {message}")]
    Panicked {
        /// What was being done (loading, preparing, warming up, separating).
        stage: &'static str,
        /// The panic's message.
        message: String,
    },
    /// The backend produced NaN or infinite samples for a window.
    #[error("the models produced {count} non-finite samples")]
    NonFinite {
        /// How many samples of the window were not finite.
        count: usize,
    },
    /// The engine was asked to stop while this was being done.
    #[error("stopped while {0}")]
    Cancelled(&'static str),
}

impl SeparationError {
    /// Runs `f`, turning a panic inside it into [`SeparationError::Panicked`] for `stage`: the
    /// inference threads call everything that may run foreign or numeric code through this, so
    /// a panic ends as an error the user sees instead of a dead thread and a hung render.
    pub fn catching<T>(
        stage: &'static str,
        f: impl FnOnce() -> Result<T, SeparationError>,
    ) -> Result<T, SeparationError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            Err(SeparationError::Panicked {
                stage,
                message: panic_message(payload.as_ref()),
            })
        })
    }

    /// A [`SeparationError::Model`] error.
    pub fn model(model: &str, stage: &str, detail: impl std::fmt::Display) -> Self {
        Self::Model {
            model: model.to_string(),
            stage: stage.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// The text of a panic payload (`panic!` with a literal or a formatted message), or a note that
/// it had none.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        collapse_whitespace(s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        collapse_whitespace(s)
    } else {
        "(no message)".into()
    }
}

/// `err` and its sources as one line: each source's text is appended unless the message
/// already contains it, and every run of white space (newlines from `dlerror`, say) becomes one
/// space. The only place the project turns an error into user-facing text.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    collapse_whitespace(&text)
}

/// Every run of white space as one space, trimmed.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer\nproblem")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn one_line_appends_sources_and_folds_newlines() {
        let e = Outer(std::io::Error::other("disk  full"));
        assert_eq!(one_line(&e), "outer problem: disk full");
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        let e = SeparationError::model("unet", "inference", "bad shape");
        assert_eq!(one_line(&e), "model 'unet': inference: bad shape");
    }
}
