// A method named like a search that gives a number: taken for a position, so a type error
// rather than a derivative dropped.
use autodiff_core::differentiate;

struct Track {
    points: Vec<f64>,
}

impl Track {
    fn position(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.points.iter().map(|&p| f(p)).sum()
    }
}

#[differentiate]
fn along(x: f64) -> f64 {
    let track = Track { points: vec![1.0, 2.0] };
    track.position(|p| p * x)
}

fn main() {}
