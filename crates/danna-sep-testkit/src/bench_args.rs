//! The command line of the benchmark binaries: `cargo bench --bench NAME -- COMMAND --key value
//! ...`, parsed the same way by every bench.

use std::collections::HashMap;

/// `--key value` pairs, keys without the dashes.
pub type Args = HashMap<String, String>;

/// The command and its `--key value` pairs from the process arguments (cargo's own `--bench`
/// is skipped). Panics, naming the key, when a key has no value.
pub fn parse_args() -> (String, Args) {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let cmd = it.next().unwrap_or_default();
    let mut args = Args::new();
    while let Some(key) = it.next() {
        let key = key.trim_start_matches("--").to_string();
        let value = it.next().unwrap_or_else(|| panic!("--{key} needs a value"));
        args.insert(key, value);
    }
    (cmd, args)
}

/// The value of `--key` parsed as `T`, or `default` when it is not given; panics when it does
/// not parse.
pub fn arg<T: std::str::FromStr>(args: &Args, key: &str, default: T) -> T {
    args.get(key).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("--{key}: cannot parse '{v}'"))
    })
}
