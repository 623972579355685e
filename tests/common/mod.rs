//! Helpers shared by the integration tests.
#![allow(dead_code)]

use autodiff_core::check_gradient;

/// Asserts that `grad` is the gradient of `f` at `x`, against central finite differences.
#[track_caller]
pub fn assert_gradient(f: impl FnMut(&[f64]) -> f64, x: &[f64], grad: &[f64], tolerance: f64) {
    let check = check_gradient(f, x, grad);
    assert!(check.passes(tolerance), "at {x:?}: {check}");
}

/// Asserts `a == b` up to `tolerance`, relative above magnitude 1.
#[track_caller]
pub fn assert_close(a: f64, b: f64, tolerance: f64) {
    let error = (a - b).abs() / 1.0_f64.max(a.abs()).max(b.abs());
    assert!(error <= tolerance, "{a} != {b} (error {error:e})");
}
