//! The seed's example: backpropagation through the price of two kinds of fruit.
//!
//! 2 kinds of fruit: apples at 100 each, 3 of them; mandarin oranges at 50 each, 4 of them;
//! tax 1.1. The computational graph is
//!
//! ```text
//! apple ─┐
//!        ×── apple_price ──┐
//! apple_num ┘              +── all_price ──┐
//! orange ─┐                │               ×── price
//!         ×── orange_price ┘        tax ───┘
//! orange_num ┘
//! ```
//!
//! and backpropagation walks it from `price` back to the inputs: multiplication swaps its
//! inputs (`z = x * y`: `dx = y * dz`, `dy = x * dz`) and addition passes the adjoint through.
//! `#[differentiate]` writes exactly that derivation; see it with
//! `cargo expand --example shopping`.
//!
//! The original write-up prints 330 for `d_apple_num`; that is a typo, since
//! `d_apple_num = apple * tax = 100 * 1.1 = 110`.

use autodiff_core::differentiate;

/// The price of the whole purchase, tax included.
#[differentiate]
fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
    let apple_price = apple * apple_num;
    let orange_price = orange * orange_num;
    let all_price = apple_price + orange_price;
    all_price * tax
}

fn main() {
    let (apple, apple_num, orange, orange_num, tax) = (100.0, 3.0, 50.0, 4.0, 1.1);
    let (value, (d_apple, d_apple_num, d_orange, d_orange_num, d_tax)) =
        price_grad(apple, apple_num, orange, orange_num, tax);

    assert_eq!(value, price(apple, apple_num, orange, orange_num, tax));
    println!("price        = {value:.1}");
    println!("d_apple      = {d_apple:.1}");
    println!("d_apple_num  = {d_apple_num:.1}");
    println!("d_orange     = {d_orange:.1}");
    println!("d_orange_num = {d_orange_num:.1}");
    println!("d_tax        = {d_tax:.1}");
}
