use autodiff_core::differentiate;

trait Smooth {
    fn smooth(self) -> f64;
}

impl Smooth for f64 {
    fn smooth(self) -> f64 {
        self.tanh()
    }
}

#[differentiate]
fn f(x: f64) -> f64 {
    let s = x.smooth();
    s * x
}

fn main() {}
