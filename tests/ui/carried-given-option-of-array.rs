use autodiff_core::differentiate;

#[differentiate(wrt(x))]
fn last_seen(x: &[f64], obs: &[Option<[f64; 2]>]) -> f64 {
    let mut o: Option<[f64; 2]> = None;
    let mut s = 0.0;
    for i in 0..x.len() {
        if let Some(p) = o {
            s += p[0] * x[i] + p[1];
        }
        o = obs[i];
    }
    s
}

fn main() {}
