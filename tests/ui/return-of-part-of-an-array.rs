use autodiff_core::differentiate;

#[differentiate]
fn part_of_an_array(x: [[[f64; 2]; 2]; 3]) -> [[f64; 2]; 2] {
    x[1]
}

fn main() {}
