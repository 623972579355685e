use autodiff_core::differentiate;

#[differentiate(wrt(x, z))]
fn f(x: f64, y: f64) -> f64 {
    let a = x.next_up();
    let b = dbg!(y);
    let c = if a > b { a } else { b };
    let square = unsafe { std::ptr::read(&c) } * c;
    square * a
}

fn main() {}
