use autodiff_core::differentiate;

// The macro does not see type aliases: `State` and `Trace` are taken for structs, and the
// errors at their array uses say so.
type State = [f64; 2];
type Trace = Vec<f64>;

#[differentiate]
fn step(x0: State) -> f64 {
    let mut x = x0;
    x[0] += x[1] * 2.0;
    x[0] * x[1]
}

#[differentiate]
fn energy(x: &Trace) -> f64 {
    let mut s = 0.0;
    for v in x.iter() {
        s += v * v;
    }
    s
}

fn main() {
    let _ = step_grad([0.4, 0.7]);
    let _ = energy_grad(&vec![0.3, 0.5]);
}
