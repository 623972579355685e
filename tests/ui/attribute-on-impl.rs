use autodiff_core::differentiate;

struct Model;

#[differentiate]
impl Model {
    fn loss(x: f64) -> f64 {
        x * x
    }
}

fn main() {}
