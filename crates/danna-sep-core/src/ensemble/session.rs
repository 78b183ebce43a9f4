//! `OrtModel`: one ONNX model of a model set, opened in ONNX Runtime, with its input and output
//! tensors pre-allocated and bound for the shape the streaming engine uses every window.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{IoBinding, Session};
use ort::value::{Tensor, TensorRef};

use crate::config::SessionOverrides;
use crate::error::SeparationError;
use crate::modelset::ModelSpec;
use crate::runtime::OrtRuntime;
use crate::selection::Precision;

use super::model::InferenceModel;

/// How ONNX Runtime sessions are configured and how the ensemble schedules its models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Intra-op threads per session.
    pub intra_threads: usize,
    /// Run the waveform model on a second thread while the spectrogram models run on the
    /// worker thread (each with `intra_threads`), instead of one model after another. Two
    /// single-threaded models in parallel use the cores better than one model on two threads
    /// (ONNX Runtime's intra-op scaling is below 2×; see the README's benchmark table).
    pub parallel_models: bool,
    /// ONNX Runtime's CPU memory arena and memory pattern: the activations of a run stay
    /// allocated for the next one. Off, they go back to the system after every window: lower
    /// resident memory between windows, the same peak, and every window pays the page faults
    /// of its fresh memory again (measured ≈ 25 % more CPU on the full-size U-Net).
    pub memory_arena: bool,
    /// Open each model's int8 variant (`int8_file` in the manifest: dynamic int8 quantisation
    /// of the LSTM/MatMul weights, e.g. the full-size DemucsSplit 1.56× faster and 310 MB
    /// smaller) where the model set has one; lossy, so off unless the user chooses it. Models
    /// without an int8 file run in float32.
    pub int8: bool,
    /// Run the spectrogram models in bf16 (OpenVINO only, on CPUs with bf16; ONNX Runtime
    /// ignores it). Lossy, so off unless the user chooses it.
    pub bf16: bool,
    /// The engine whose models these are: its models share sessions with each other (and
    /// with the backend a staged swap replaces), and get sessions of their own while a file's
    /// pool has room (see [`Self::pool_size`]).
    pub owner: SessionOwner,
    /// Sessions per model file in this process at most: engines beyond it share the least
    /// used one and take turns on it. Each session holds its own copy of the weights.
    pub pool_size: usize,
}

impl Default for SessionConfig {
    /// On two or more cores: the models in parallel, one intra-op thread each (the product's
    /// target machine has two cores). On one core: one model after another.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            intra_threads: 1,
            parallel_models: cores >= 2,
            memory_arena: true,
            int8: false,
            bf16: false,
            owner: SessionOwner::default(),
            // One engine per core runs without waiting for another.
            pool_size: cores,
        }
    }
}

impl SessionConfig {
    /// This configuration with `overrides` applied (`DANNA_SEP_THREADS`, `DANNA_SEP_PARALLEL`
    /// and `DANNA_SEP_INT8`, see [`crate::config`]): lets a user give the plugin more cores
    /// without a parameter.
    pub fn with_overrides(mut self, overrides: SessionOverrides) -> Self {
        if let Some(n) = overrides.intra_threads {
            self.intra_threads = n;
        }
        if let Some(p) = overrides.parallel_models {
            self.parallel_models = p;
        }
        self.int8 |= overrides.force_int8;
        if let Some(n) = overrides.pool_size {
            self.pool_size = n;
        }
        self
    }

    /// The precision asked for: int8 wins over bf16 (`DANNA_SEP_INT8=1` forces int8).
    pub fn precision(&self) -> Precision {
        if self.int8 {
            Precision::Int8
        } else if self.bf16 {
            Precision::Bf16
        } else {
            Precision::Float32
        }
    }

    /// Threads the ensemble keeps busy at most (for the status line).
    pub fn describe(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let t = self.intra_threads;
        let schedule = if self.parallel_models {
            format!("models in parallel, {t} thread{} each", plural(t))
        } else {
            format!("models in sequence, {t} thread{}", plural(t))
        };
        match self.precision() {
            Precision::Int8 => format!("{schedule}, int8 LSTM/MatMul"),
            Precision::Bf16 => format!("{schedule}, bf16"),
            Precision::Float32 => schedule,
        }
    }
}

/// Input and output bound once for a fixed shape: a run then only writes the input tensor's
/// memory and reads the output tensor's memory.
struct Bound {
    input_shape: Vec<usize>,
    input: Tensor<f32>,
    output: Tensor<f32>,
    binding: IoBinding,
}

/// One ONNX Runtime session. Every `OrtModel` that opens the same file with the same options
/// takes one from that key's [`SessionPool`]: the models of one engine share a session (a model
/// swap re-opens nothing), and up to [`SessionConfig::pool_size`] engines each get their own,
/// so two plugin instances run side by side instead of taking turns. Runs are serialised by the
/// lock, which is taken by inference workers only, never by an audio thread.
struct SharedSession {
    session: Mutex<Session>,
}

/// What makes two sessions interchangeable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionKey {
    path: PathBuf,
    intra_threads: usize,
    memory_arena: bool,
}

/// The sessions open for one key, each with the engine that opened it. Weak: the last
/// `OrtModel` using a session frees it.
struct SessionPool<S = SharedSession> {
    sessions: Vec<(SessionOwner, Weak<S>)>,
}

impl<S> Default for SessionPool<S> {
    fn default() -> Self {
        Self {
            sessions: Vec::new(),
        }
    }
}

impl<S> SessionPool<S> {
    /// The session `owner` should use, or `None` when it should open one of its own: its own
    /// session if it has one; a new one while the pool has room; else the least shared one.
    fn pick(&mut self, owner: SessionOwner, pool_size: usize) -> Option<Arc<S>> {
        self.sessions.retain(|(_, weak)| weak.strong_count() > 0);
        let live = || {
            self.sessions
                .iter()
                .filter_map(|(o, weak)| Some((*o, weak.upgrade()?)))
        };
        if let Some((_, own)) = live().find(|(o, _)| *o == owner) {
            return Some(own);
        }
        if self.sessions.len() < pool_size.max(1) {
            return None;
        }
        live()
            .min_by_key(|(_, s)| Arc::strong_count(s))
            .map(|(_, s)| s)
    }
}

/// Which engine (backend factory) opened a session; see [`SessionConfig::owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SessionOwner(u64);

impl SessionOwner {
    /// A new owner, distinct from every other in this process.
    pub fn unique() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The pools of this process, one per key. The registry is locked only to find a key's pool;
/// a file loads under its pool's lock, so two instances starting together load it once, and
/// instances of other files (or other options) load at the same time.
static SESSIONS: Mutex<Vec<(SessionKey, Arc<Mutex<SessionPool>>)>> = Mutex::new(Vec::new());

/// The pool for `key`, created if there is none. Holds the registry lock only for the lookup.
fn pool_for(key: &SessionKey) -> Arc<Mutex<SessionPool>> {
    let mut pools = SESSIONS.lock();
    // Forget pools with no live session that nobody is loading into.
    pools.retain(|(_, pool)| {
        Arc::strong_count(pool) > 1
            || pool
                .try_lock()
                .is_none_or(|p| p.sessions.iter().any(|(_, w)| w.strong_count() > 0))
    });
    match pools.iter().find(|(k, _)| k == key) {
        Some((_, pool)) => pool.clone(),
        None => {
            let pool = Arc::new(Mutex::new(SessionPool::default()));
            pools.push((key.clone(), pool.clone()));
            pool
        }
    }
}

/// A session for `key` on behalf of `owner` (see [`SessionPool::pick`]), opened if needed.
fn shared_session(
    environment: &ort::environment::Environment,
    key: SessionKey,
    owner: SessionOwner,
    pool_size: usize,
) -> Result<Arc<SharedSession>, String> {
    let pool = pool_for(&key);
    let mut pool = pool.lock();
    if let Some(shared) = pool.pick(owner, pool_size) {
        return Ok(shared);
    }
    let shared = Arc::new(SharedSession {
        session: Mutex::new(open_session(environment, &key)?),
    });
    pool.sessions.push((owner, Arc::downgrade(&shared)));
    Ok(shared)
}

/// Number of distinct ONNX Runtime sessions alive in this process (for tests and benchmarks).
pub fn live_sessions() -> usize {
    let pools: Vec<_> = SESSIONS.lock().iter().map(|(_, p)| p.clone()).collect();
    pools
        .iter()
        .map(|p| {
            p.lock()
                .sessions
                .iter()
                .filter(|(_, weak)| weak.strong_count() > 0)
                .count()
        })
        .sum()
}

/// An ONNX model with one float input and one float output (the manifest's `input_name` and
/// `output_name`).
pub struct OrtModel {
    name: String,
    int8: bool,
    shared: Arc<SharedSession>,
    input_name: String,
    output_name: String,
    bound: Option<Bound>,
}

fn err(model: &str, what: &str, e: impl std::fmt::Display) -> SeparationError {
    SeparationError::model(model, what, e)
}

impl OrtModel {
    /// Opens `spec.path`, or `spec.int8_path` when `config.int8` asks for it and the model has
    /// one (or joins the session already open for that file), and checks its inputs and
    /// outputs against the manifest.
    pub fn open(
        runtime: &OrtRuntime,
        name: &str,
        spec: &ModelSpec,
        config: SessionConfig,
    ) -> Result<Self, SeparationError> {
        let int8_path = spec.int8_path.as_ref().filter(|_| config.int8);
        let path = int8_path.unwrap_or(&spec.path);
        let opening = |e: String| err(name, &format!("opening {}", path.display()), e);
        let key = SessionKey {
            path: std::fs::canonicalize(path).map_err(|e| opening(e.to_string()))?,
            intra_threads: config.intra_threads.max(1),
            memory_arena: config.memory_arena,
        };
        let shared = shared_session(&runtime.environment, key, config.owner, config.pool_size)
            .map_err(opening)?;
        let dims = |o: &ort::value::Outlet| -> Vec<Option<i64>> {
            o.dtype()
                .tensor_shape()
                .map(|s| s.iter().map(|&d| Some(d)).collect())
                .unwrap_or_default()
        };
        {
            let session = shared.session.lock();
            let (Some(input), Some(output)) = (session.inputs().first(), session.outputs().first())
            else {
                return Err(err(
                    name,
                    "checking I/O",
                    "the model has no input or no output",
                ));
            };
            spec.check_io(
                name,
                (input.name(), &dims(input)),
                (output.name(), &dims(output)),
            )?;
        }
        Ok(Self {
            name: name.to_string(),
            int8: int8_path.is_some(),
            shared,
            input_name: spec.input_name.clone(),
            output_name: spec.output_name.clone(),
            bound: None,
        })
    }
}

impl InferenceModel for OrtModel {
    fn precision(&self) -> Precision {
        if self.int8 {
            Precision::Int8
        } else {
            Precision::Float32
        }
    }

    /// Pre-allocates and binds the input and output tensors for one shape; runs with exactly
    /// this input shape then reuse them.
    fn bind(
        &mut self,
        input_shape: &[usize],
        output_shape: &[usize],
    ) -> Result<(), SeparationError> {
        let name = self.name.clone();
        let input = Tensor::<f32>::from_array((
            input_shape.to_vec(),
            vec![0.0f32; input_shape.iter().product()],
        ))
        .map_err(|e| err(&name, "allocating the input", e))?;
        let output = Tensor::<f32>::new(&Allocator::default(), output_shape.to_vec())
            .map_err(|e| err(&name, "allocating the output", e))?;
        let mut binding = self
            .shared
            .session
            .lock()
            .create_binding()
            .map_err(|e| err(&name, "creating the binding", e))?;
        binding
            .bind_input(self.input_name.as_str(), &input)
            .map_err(|e| err(&name, "binding the input", e))?;
        let mut bound = Bound {
            input_shape: input_shape.to_vec(),
            input,
            output,
            binding,
        };
        bound
            .binding
            .bind_output(self.output_name.as_str(), &mut bound.output)
            .map_err(|e| err(&name, "binding the output", e))?;
        self.bound = Some(bound);
        Ok(())
    }

    /// Uses the bound tensors when `shape` is the bound shape, otherwise lets ONNX Runtime
    /// allocate (whole-clip runs with ragged last chunks).
    fn run_with(
        &mut self,
        input: &[f32],
        shape: &[usize],
        read: &mut dyn FnMut(&[i64], &[f32]),
    ) -> Result<(), SeparationError> {
        let name = &self.name;
        let mut session = self.shared.session.lock();
        if let Some(bound) = self.bound.as_mut().filter(|b| b.input_shape == shape) {
            bound.input.extract_tensor_mut().1.copy_from_slice(input);
            session
                .run_binding(&bound.binding)
                .map_err(|e| err(name, "inference", e))?;
            drop(session);
            let (out_shape, data) = bound.output.extract_tensor();
            read(out_shape, data);
            return Ok(());
        }
        let tensor = TensorRef::from_array_view((shape.to_vec(), input))
            .map_err(|e| err(name, "wrapping the input", e))?;
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| err(name, "inference", e))?;
        let (out_shape, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| err(name, "reading the output", e))?;
        read(out_shape, data);
        Ok(())
    }
}

fn open_session(
    environment: &ort::environment::Environment,
    key: &SessionKey,
) -> Result<Session, String> {
    let cpu = ort::ep::CPU::default()
        .with_arena_allocator(key.memory_arena)
        .build();
    Session::builder(environment)
        .map_err(|e| e.to_string())?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| e.to_string())?
        .with_intra_threads(key.intra_threads)
        .map_err(|e| e.to_string())?
        .with_inter_threads(1)
        .map_err(|e| e.to_string())?
        .with_memory_pattern(key.memory_arena)
        .map_err(|e| e.to_string())?
        // Subnormals count as zero in ONNX Runtime's own threads too (see dsp::finite).
        .with_flush_to_zero()
        .map_err(|e| e.to_string())?
        .with_execution_providers([cpu])
        .map_err(|e| e.to_string())?
        .commit_from_file(&key.path)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> SessionKey {
        SessionKey {
            path: PathBuf::from(format!("/pool-test/{name}.onnx")),
            intra_threads: 1,
            memory_arena: true,
        }
    }

    /// The pool's bookkeeping, on stand-ins for sessions (a real one needs the runtime).
    #[test]
    fn engines_get_their_own_session_while_the_pool_has_room() {
        let (a, b, c) = (
            SessionOwner::unique(),
            SessionOwner::unique(),
            SessionOwner::unique(),
        );
        let mut pool = SessionPool::<()>::default();
        let open = |pool: &mut SessionPool<()>, owner| {
            let session = Arc::new(());
            pool.sessions.push((owner, Arc::downgrade(&session)));
            session
        };
        assert!(pool.pick(a, 2).is_none(), "the first engine opens one");
        let held_a = open(&mut pool, a);
        assert!(
            Arc::ptr_eq(&pool.pick(a, 2).unwrap(), &held_a),
            "an engine's models share its session"
        );
        assert!(pool.pick(b, 2).is_none(), "a second engine gets its own");
        let held_b = open(&mut pool, b);
        let extra_b = pool.pick(b, 2).unwrap();
        // Pool full: the third engine shares the least used session (a's: b's has two users).
        assert!(Arc::ptr_eq(&pool.pick(c, 2).unwrap(), &held_a));
        drop((held_a, extra_b));
        assert!(pool.pick(a, 2).is_none(), "a's session is gone: room again");
        assert!(Arc::ptr_eq(&pool.pick(c, 1).unwrap(), &held_b));
    }

    #[test]
    fn loading_one_file_does_not_lock_out_another() {
        let first = pool_for(&key("first"));
        let _loading = first.lock();
        // Another key's pool is reachable while the first one is held (a registry-wide lock
        // across a load would block here forever).
        let other = std::thread::spawn(|| {
            let pool = pool_for(&key("second"));
            let guard = pool.lock();
            guard.sessions.len()
        })
        .join()
        .unwrap();
        assert_eq!(other, 0);
        assert!(Arc::ptr_eq(&first, &pool_for(&key("first"))));
    }
}
