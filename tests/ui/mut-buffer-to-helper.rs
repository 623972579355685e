use autodiff_core::differentiate;

fn rhs(y: &[f64], k: f64, dy: &mut [f64]) {
    for i in 0..y.len() {
        dy[i] = -k * y[i];
    }
}

// An output buffer passed `&mut` to a function (an ODE's right-hand side, as C writes it).
#[differentiate]
fn euler(y0: &[f64], k: f64) -> f64 {
    let mut y = y0.to_vec();
    let mut dy = vec![0.0; y.len()];
    for _ in 0..10 {
        rhs(&y, k, &mut dy);
        for i in 0..y.len() {
            y[i] += 0.1 * dy[i];
        }
    }
    y.iter().sum()
}

fn main() {}
