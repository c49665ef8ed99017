//! `hongbao-loadgen worker` (config and commands on stdin, events on stdout) and three small
//! subcommands the TypeScript tests use to prove this crate computes what the TypeScript code
//! does: `schedule`, `token`, `histogram` (one JSON case a line on stdin, one answer a line out).
use hongbao_loadgen::{hist, schedule, stdio, sys, token, worker};
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, Write};

const HELP: &str = "usage: hongbao-loadgen worker | schedule | token | histogram

  worker     one generator process: the first stdin line is its config (JSON), then commands;
             events on stdout, one JSON object a line (docs/simulator.md). Started by
             `hongbao clients --generator native`, not by hand.
  schedule   per stdin line {\"second\",\"qps\",\"total\",\"from\",\"to\"}: {\"users\":[..],\"offsets\":[..]}
  token      per stdin line {\"secret\",\"user\",\"expiresAt\"}: {\"token\":\"..\"}
  histogram  per stdin line {\"values\":[µs..]}: {\"histogram\":\"<HDR V2 compressed base64>\"}
";

#[derive(Deserialize)]
struct ScheduleCase {
    second: u64,
    qps: u64,
    total: u64,
    from: u64,
    to: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenCase {
    secret: String,
    user: u32,
    expires_at: u64,
}

#[derive(Deserialize)]
struct HistogramCase {
    values: Vec<u64>,
}

/// Answer each stdin line with `answer(line)`; a line that does not parse gets {"error": ...}.
fn per_line<T: for<'de> Deserialize<'de>>(answer: impl Fn(T) -> serde_json::Value) -> i32 {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return 1 };
        if line.trim().is_empty() {
            continue;
        }
        let v = match serde_json::from_str::<T>(&line) {
            Ok(case) => answer(case),
            Err(e) => json!({ "error": e.to_string() }),
        };
        if writeln!(out, "{v}").is_err() {
            return 1;
        }
    }
    if out.flush().is_err() {
        return 1;
    }
    0
}

/// The worker: read the config line (raw reads: whatever follows it is kept for the loop).
fn worker_main() -> i32 {
    sys::die_with_parent();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let newline = loop {
        if let Some(i) = got.iter().position(|&b| b == b'\n') {
            break i;
        }
        match sys::read(0, &mut chunk) {
            Ok(sys::Read::Data(n)) => got.extend_from_slice(&chunk[..n]),
            Ok(sys::Read::Again) => continue,
            Ok(sys::Read::Eof) | Err(_) => {
                eprintln!("hongbao-loadgen worker: stdin closed before the config line");
                return 2;
            }
        }
    };
    let cfg: stdio::Config = match serde_json::from_slice(&got[..newline]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hongbao-loadgen worker: bad config line: {e}");
            return 2;
        }
    };
    let rest = got[newline + 1..].to_vec();
    // The worker runs on a thread with its own descriptor table (sys::private_fd_table says why);
    // the main thread only waits for it.
    let run = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || run_worker(cfg, &rest));
    match run.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(_)) => 1, // the panic message is already on stderr
        Err(e) => {
            eprintln!("hongbao-loadgen worker: cannot start its thread: {e}");
            2
        }
    }
}

fn run_worker(cfg: stdio::Config, rest: &[u8]) -> i32 {
    let id = cfg.id.clone();
    if let Err(e) = sys::private_fd_table() {
        eprintln!(
            "hongbao-loadgen worker {id}: no private descriptor table ({e}); going on without"
        );
    }
    let w = match worker::Worker::new(cfg) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("hongbao-loadgen worker {id}: {e}");
            return 2;
        }
    };
    match w.run(rest) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hongbao-loadgen worker {id}: {e}");
            1
        }
    }
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let code = match arg.as_str() {
        "worker" => worker_main(),
        "schedule" => per_line(|c: ScheduleCase| match schedule::Schedule::new(c.total) {
            Ok(s) => {
                let mut slots = Vec::new();
                s.fill_second(c.second, c.qps, c.from, c.to, &mut slots);
                json!({
                    "users": slots.iter().map(|x| x.user).collect::<Vec<_>>(),
                    "offsets": slots.iter().map(|x| x.offset_micros).collect::<Vec<_>>(),
                })
            }
            Err(e) => json!({ "error": e.to_string() }),
        }),
        "token" => per_line(
            |c: TokenCase| json!({ "token": token::mint_token(c.secret.as_bytes(), c.user, c.expires_at) }),
        ),
        "histogram" => per_line(|c: HistogramCase| {
            let mut h = hist::latency_histogram();
            for v in c.values {
                hist::record_micros(&mut h, v);
            }
            json!({ "histogram": hist::encode(&h, &mut Vec::new()) })
        }),
        "-h" | "--help" | "help" => {
            print!("{HELP}");
            0
        }
        _ => {
            eprint!("{HELP}");
            2
        }
    };
    std::process::exit(code);
}
