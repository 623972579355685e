use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
pub struct Beta {
    pub b: [f64; 2],
}

pub struct Trip {
    pub x: [f64; 2],
    pub y: f64,
}

impl Trip {
    #[differentiate(wrt(p))]
    pub fn resid(&self, p: &Beta) -> f64 {
        let e = self.y - p.b[0] * self.x[0] - p.b[1] * self.x[1];
        e * e
    }
}

// A differentiated method of a data item is called by path (`Trip::resid(t, p)`).
#[differentiate(wrt(p))]
fn sse(p: &Beta, trips: &[Trip]) -> f64 {
    let mut s = 0.0;
    for t in trips {
        s += t.resid(p);
    }
    s
}

fn main() {}
