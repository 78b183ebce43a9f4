//! Ensemble backends of one engine share their ONNX Runtime sessions; other engines get their
//! own up to the pool size and share beyond it; the last one dropped frees them; int8 precision
//! opens the models' int8 files, in sessions of their own. Own test binary, so no other test
//! opens sessions meanwhile (the tests here take turns: they count the process's sessions).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use danna_sep_core::engine::{SeparationBackend, StemBuffers};
use danna_sep_core::ensemble::{live_sessions, EnsembleBackend, SessionConfig, SessionOwner};
use danna_sep_core::modelset::ModelSet;
use danna_sep_core::ModelChoice;
use danna_sep_testkit::runtime::runtime_or_skip;
use danna_sep_testkit::{TempDir, QUARTER_SET};

/// Held by each test: `live_sessions` counts the whole process.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn engines_share_sessions_only_beyond_the_pool_size() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(rt) = runtime_or_skip("engines_share_sessions_only_beyond_the_pool_size") else {
        return;
    };
    let dir = Path::new(QUARTER_SET);
    let set = ModelSet::load(dir).unwrap();
    let engine = |pool_size| SessionConfig {
        owner: SessionOwner::unique(),
        pool_size,
        ..SessionConfig::default()
    };
    let first = engine(2);
    assert_eq!(live_sessions(), 0);
    let mut a = EnsembleBackend::new(rt, &set, ModelChoice::Full, first).unwrap();
    let opened = live_sessions();
    assert!(opened >= 1);
    // One engine's backends (a staged swap builds the second while the first runs) share.
    let mut a2 = EnsembleBackend::new(rt, &set, ModelChoice::Full, first).unwrap();
    assert_eq!(live_sessions(), opened, "a swap re-opened the models");
    // A second engine runs on sessions of its own: it never waits for the first one's window.
    let mut b = EnsembleBackend::new(rt, &set, ModelChoice::Full, engine(2)).unwrap();
    assert_eq!(live_sessions(), 2 * opened);
    // Beyond the pool size, engines share the least used session (b's: a's has two users) and
    // take turns on it.
    let mut c = EnsembleBackend::new(rt, &set, ModelChoice::Full, engine(2)).unwrap();
    assert_eq!(live_sessions(), 2 * opened, "the pool holds two per file");

    // All run, each with its own bound tensors.
    for backend in [&mut a, &mut a2, &mut b, &mut c] {
        assert_runs_the_quarter_model(backend, 70_000);
    }

    // Other options mean another pool.
    let other = SessionConfig {
        intra_threads: 2,
        ..engine(2)
    };
    let d = EnsembleBackend::new(rt, &set, ModelChoice::Full, other).unwrap();
    assert_eq!(live_sessions(), 3 * opened);
    drop((a, a2, d));
    assert_eq!(live_sessions(), opened, "b and c share theirs");
    drop(b);
    assert_eq!(live_sessions(), opened, "c still holds them");
    drop(c);
    assert_eq!(live_sessions(), 0);
}

/// The quarter set copied to a temporary folder, with an int8 variant declared: a copy of the
/// same file (the quarter model has nothing to quantise; what matters is which file opens).
struct Int8Set(TempDir);

impl Int8Set {
    fn new() -> Self {
        let quarter = Path::new(QUARTER_SET);
        let tmp = TempDir::new("int8-set");
        let dir = tmp.path().to_path_buf();
        std::fs::copy(quarter.join("quarter.onnx"), dir.join("quarter.onnx")).unwrap();
        std::fs::copy(quarter.join("quarter.onnx"), dir.join("quarter.int8.onnx")).unwrap();
        let manifest = std::fs::read_to_string(quarter.join("manifest.toml")).unwrap();
        let sha = manifest
            .lines()
            .find_map(|l| l.strip_prefix("sha256 = "))
            .expect("the fixture records its sha256")
            .to_string();
        let manifest = manifest.replacen(
            "output_name = \"stems\"\n",
            &format!(
                "output_name = \"stems\"\nint8_file = \"quarter.int8.onnx\"\nint8_sha256 = {sha}\n"
            ),
            1,
        );
        std::fs::write(dir.join("manifest.toml"), manifest).unwrap();
        Int8Set(tmp)
    }

    fn path(&self) -> PathBuf {
        self.0.path().to_path_buf()
    }
}

#[test]
fn int8_precision_opens_the_int8_files() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(rt) = runtime_or_skip("int8_precision_opens_the_int8_files") else {
        return;
    };
    let dir = Int8Set::new();
    let set = ModelSet::load(&dir.path()).unwrap();
    let quarter = &set.models["quarter"];
    assert_eq!(
        quarter.int8_path,
        Some(dir.path().join("quarter.int8.onnx"))
    );

    let float = SessionConfig::default();
    assert!(!float.int8, "float32 is the default");
    let int8 = SessionConfig {
        int8: true,
        ..float
    };
    assert!(int8.describe().contains("int8 LSTM/MatMul"));
    assert!(!float.describe().contains("int8"));

    assert_eq!(live_sessions(), 0);
    let mut a = EnsembleBackend::new(rt, &set, ModelChoice::Full, float).unwrap();
    assert_eq!(live_sessions(), 1);
    assert!(!a.describe().contains("int8"), "{}", a.describe());
    let b = EnsembleBackend::new(rt, &set, ModelChoice::Full, int8).unwrap();
    assert_eq!(live_sessions(), 2, "the int8 file has a session of its own");
    assert!(
        b.describe().contains("int8 LSTM/MatMul"),
        "{}",
        b.describe()
    );
    // The file opened really is the int8 one: without it, int8 precision cannot open.
    drop(b);
    std::fs::remove_file(dir.path().join("quarter.int8.onnx")).unwrap();
    let err = EnsembleBackend::new(rt, &set, ModelChoice::Full, int8)
        .err()
        .expect("the int8 file is gone");
    let err = err.to_string();
    assert!(err.contains("quarter.int8.onnx"), "{err}");
    std::fs::copy(
        dir.path().join("quarter.onnx"),
        dir.path().join("quarter.int8.onnx"),
    )
    .unwrap();
    let mut b = EnsembleBackend::new(rt, &set, ModelChoice::Full, int8).unwrap();

    // Both run (the copy is the same model).
    for backend in [&mut a, &mut b] {
        assert_runs_the_quarter_model(backend, 8_192);
    }

    // A set without int8 files stays float32 and says so.
    let plain = ModelSet::load(Path::new(QUARTER_SET)).unwrap();
    let c = EnsembleBackend::new(rt, &plain, ModelChoice::Full, int8).unwrap();
    assert!(
        c.describe().contains("float32 (no int8 files in the set)"),
        "{}",
        c.describe()
    );
    drop((a, b, c));
    assert_eq!(live_sessions(), 0);
}

/// `backend` separates a window of `frames` into four stems that are each a quarter of the mix.
fn assert_runs_the_quarter_model(backend: &mut EnsembleBackend, frames: usize) {
    let mix: Vec<f32> = (0..frames).map(|i| (i as f32 * 0.01).sin()).collect();
    backend.prepare(frames).unwrap();
    let mut stems = StemBuffers::new(frames);
    backend.separate([&mix, &mix], &mut stems).unwrap();
    for c in 0..8 {
        let err = (0..frames)
            .map(|i| (stems.channel(c / 2, c % 2)[i] - 0.25 * mix[i]).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-5, "the quarter model returned {err} off");
    }
}
