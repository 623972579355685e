//! Writes the inputs of the problems `benches/jax/compare.py` times in JAX — shopping,
//! Rosenbrock (n = 10, 100, 1000), the MLP of `benches/problems/mlp.rs` and ADBench's GMM
//! (d = 2, k = 5, n = 1000) — with the value and gradient `#[differentiate]` computes for each,
//! as JSON, so that the script times the same computations and checks its results first.
//!
//! ```text
//! cargo run --release --example jax_inputs [-- PATH]   # PATH defaults to target/jax_inputs.json
//! ```
//!
//! The inputs are regenerated here from the problems' recipes; each problem's own primal is
//! asserted to give bitwise the value of the regenerated inputs, so they are the ones the Rust
//! benchmarks use.

#[path = "../benches/problems/mod.rs"]
mod problems;

use std::fmt::Write as _;

use problems::gmm::{Gmm, GmmData, WISHART_GAMMA, WISHART_M};
use problems::mlp::{BATCH, HIDDEN, INPUTS, Mlp, OUTPUTS, mlp_loss};
use problems::reductions::{Rosenbrock, rosenbrock};
use problems::scalar::{Shopping, price};
use problems::{Method, Problem, uniform};

/// A JSON array of numbers, each printed so that it reads back exactly.
fn numbers(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", items.join(", "))
}

fn rows(v: &[Vec<f64>]) -> String {
    let items: Vec<String> = v.iter().map(|r| numbers(r)).collect();
    format!("[{}]", items.join(",\n  "))
}

/// One problem's entry: its inputs (JSON values by name), the value and the flat gradient of
/// the problem's generated method.
fn entry(name: &str, inputs: &[(&str, String)], problem: &mut impl Problem) -> String {
    let value = problem.generated();
    let gradient = problem.gradient(Method::Generated);
    let mut s = format!("{{\"name\": \"{name}\",\n \"inputs\": {{");
    for (i, (key, json)) in inputs.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(s, "{comma}\n  \"{key}\": {json}");
    }
    let _ = write!(
        s,
        "}},\n \"value\": {value:?},\n \"gradient\": {}}}",
        numbers(&gradient)
    );
    s
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/jax_inputs.json".into());
    let mut entries = Vec::new();

    // shopping: the point of `scalar::Shopping`.
    let at = [100.0, 3.0, 50.0, 4.0, 1.1];
    let mut shopping = Shopping::new();
    assert_eq!(
        shopping.primal().to_bits(),
        price(at[0], at[1], at[2], at[3], at[4]).to_bits()
    );
    entries.push(entry("shopping", &[("p", numbers(&at))], &mut shopping));

    // Rosenbrock: `reductions::Rosenbrock::new(n)`'s points.
    for n in [10, 100, 1000] {
        let x = uniform(n as u64, n, -1.5, 1.5);
        let mut problem = Rosenbrock::new(n);
        assert_eq!(problem.primal().to_bits(), rosenbrock(&x).to_bits());
        entries.push(entry(
            &format!("rosenbrock_{n}"),
            &[("x", numbers(&x))],
            &mut problem,
        ));
    }

    // The MLP: `mlp::Mlp::new()`'s weights, batch and labels (row-major).
    let w1 = uniform(1, HIDDEN * INPUTS, -0.125, 0.125);
    let b1 = uniform(2, HIDDEN, -0.1, 0.1);
    let w2 = uniform(3, OUTPUTS * HIDDEN, -0.18, 0.18);
    let b2 = uniform(4, OUTPUTS, -0.1, 0.1);
    let x = uniform(5, BATCH * INPUTS, -1.0, 1.0);
    let labels: Vec<usize> = (0..BATCH).map(|s| (s * 7 + 3) % OUTPUTS).collect();
    let mut mlp = Mlp::new();
    assert_eq!(
        mlp.primal().to_bits(),
        mlp_loss(&w1, &b1, &w2, &b2, &x, &labels).to_bits()
    );
    let labels_json = format!(
        "[{}]",
        labels
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    entries.push(entry(
        &format!("mlp_{INPUTS}_{HIDDEN}_{OUTPUTS}_batch{BATCH}"),
        &[
            ("w1", numbers(&w1)),
            ("b1", numbers(&b1)),
            ("w2", numbers(&w2)),
            ("b2", numbers(&b2)),
            ("x", numbers(&x)),
            ("labels", labels_json),
            ("shape", format!("[{INPUTS}, {HIDDEN}, {OUTPUTS}, {BATCH}]")),
        ],
        &mut mlp,
    ));

    // GMM, d = 2, k = 5, n = 1000 (and the larger sizes with AUTODIFF_BENCH_LARGE).
    let mut sizes = vec![(2, 5, 1000)];
    if std::env::var_os(problems::LARGE).is_some() {
        sizes.extend([(10, 25, 1000), (64, 200, 1000), (2, 5, 10_000)]);
    }
    for (d, k, n) in sizes {
        let data = GmmData::new(d, k, n);
        let mut gmm = Gmm::new(d, k, n);
        assert_eq!(gmm.primal().to_bits(), data.objective().to_bits());
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &data;
        entries.push(entry(
            &gmm.name(),
            &[
                ("alphas", numbers(alphas)),
                ("means", rows(means)),
                ("icf", rows(icf)),
                ("x", rows(x)),
                ("wishart_gamma", format!("{WISHART_GAMMA:?}")),
                ("wishart_m", WISHART_M.to_string()),
            ],
            &mut gmm,
        ));
    }

    let json = format!("{{\"problems\": [\n{}\n]}}\n", entries.join(",\n"));
    std::fs::write(&path, json).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    eprintln!("wrote {} problems to {path}", entries.len());
}
