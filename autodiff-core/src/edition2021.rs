//! Code that only an edition-2021 crate can write, which the generated code must accept too
//! (the macro crate's edition is 2024). Each example is a test (`cargo test --doc`).
//!
//! `gen` is a name in edition 2021:
//!
//! ```edition2021
//! use autodiff_core::differentiate;
//!
//! #[differentiate]
//! fn dispatch(gen: &[f64], price: f64) -> f64 {
//!     let mut s = 0.0;
//!     for &g in gen.iter() {
//!         s += g * price;
//!     }
//!     s + gen.iter().map(|gen| gen * gen).sum::<f64>()
//! }
//!
//! let (value, (d_gen, d_price)) = dispatch_grad(&[1.0, 2.0], 0.5);
//! assert_eq!(value, dispatch(&[1.0, 2.0], 0.5));
//! assert_eq!((d_gen, d_price), (vec![2.5, 4.5], 3.0));
//! ```
//!
//! A `&` pattern inside a tuple pattern matched through a reference (`filter`'s item
//! `&(&f64, &bool)`), which binds the value the part refers to:
//!
//! ```edition2021
//! use autodiff_core::differentiate;
//!
//! #[differentiate]
//! fn kept(w: &[f64], keep: &[bool], n: &[u32]) -> f64 {
//!     let a: f64 = w.iter().zip(keep).filter(|(_, &k)| k).map(|(&x, _)| x * x).sum();
//!     let b: f64 = w.iter().zip(n).filter(|(x, &m)| m > 0 && **x > 0.0).map(|(x, _)| x * 3.0).sum();
//!     a + b
//! }
//!
//! let (value, grad) = kept_grad(&[1.0, -2.0, 3.0], &[true, false, true], &[1, 1, 0]);
//! assert_eq!(value, kept(&[1.0, -2.0, 3.0], &[true, false, true], &[1, 1, 0]));
//! assert_eq!(grad, vec![2.0 + 3.0, 0.0, 6.0]);
//! ```
