use autodiff_core::differentiate;

#[differentiate]
fn shift(t: [f64; 3], p: [f64; 3]) -> [f64; 3] {
    [p[0] + t[0], p[1] + t[1], p[2] + t[2]]
}

#[differentiate(wrt(t))]
fn posed(t: [f64; 3], lig: &[[f64; 3]]) -> f64 {
    let mut posed = Vec::new();
    for p in lig {
        posed.push(shift(t, *p));
    }
    posed[0][1] * t[0]
}

fn main() {}
