//! ADBench's Gaussian mixture model objective (the benchmark problem of
//! `benches/problems/gmm.rs`): its value against a direct evaluation with dense matrices, and
//! its generated gradient against the hand-written one, central finite differences, forward-mode
//! dual numbers and echidna's tape (`problems::verify`), at sizes small enough for a debug build;
//! in both ways of writing it (buffers local to the loops, and allocated once).

#[path = "../benches/problems/mod.rs"]
mod problems;

use problems::Problem;
use problems::gmm::{Gmm, GmmData, GmmHoisted, ln_gamma_half, ln_multigamma_half};

#[test]
fn gamma_at_half_integers() {
    let sqrt_pi = std::f64::consts::PI.sqrt();
    // (t, Γ(t / 2)) from Γ(n) = (n - 1)! and Γ(n + ½) = (2n)! √π / (4ⁿ n!).
    for (t, gamma) in [
        (1, sqrt_pi),
        (2, 1.0),
        (3, 0.5 * sqrt_pi),
        (4, 1.0),
        (7, 15.0 / 8.0 * sqrt_pi),
        (10, 24.0),
        (13, 10395.0 / 64.0 * sqrt_pi),
    ] {
        let error = (ln_gamma_half(t) - f64::ln(gamma)).abs();
        assert!(error <= 1e-14, "ln Γ({t}/2): error {error:e}");
    }
    // Γ_2(a) = √π Γ(a) Γ(a - ½); at a = 5/2: √π (3√π / 4) (1) = 3π/4.
    let error = (ln_multigamma_half(5, 2) - f64::ln(0.75 * std::f64::consts::PI)).abs();
    assert!(error <= 1e-14, "ln Γ_2(5/2): error {error:e}");
}

#[test]
fn objective_matches_a_dense_evaluation() {
    for (d, k, n) in [(1, 3, 20), (2, 5, 100), (3, 4, 50), (7, 6, 40)] {
        GmmData::new(d, k, n).check_objective();
    }
}

#[test]
fn gradients_agree() {
    for (d, k, n) in [(1, 3, 20), (3, 4, 50), (5, 3, 30), (7, 3, 20), (2, 5, 1000)] {
        let mut problem = Gmm::new(d, k, n);
        for method in problems::Method::ALL {
            assert!(problem.runs(method), "{}: all peers run", problem.name());
        }
        eprintln!("{}", problems::verify(&mut problem));
        eprintln!("{}", problems::verify(&mut GmmHoisted::new(d, k, n)));
    }
}
