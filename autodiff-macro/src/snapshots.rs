//! Snapshots of what the stages make of small functions: the IR after lowering, the plan of the
//! backward sweep, the forward-mode IR. `UPDATE_EXPECT=1 cargo test -p autodiff-macro` rewrites
//! them after an intended change; a diff here is a change in what the macro does.

use expect_test::{Expect, expect};
use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;
use crate::{analysis, lower, options, reverse, signature, tangent};

/// The IR of `source` (a function), its plan, and with `forward` its forward-mode IR.
fn stages(source: &str, forward: bool) -> String {
    let item: syn::ItemFn = syn::parse_str(source).expect("the test's function parses");
    let cx = Ctxt::new();
    let sig = signature::check(&cx, &item.sig, &options::Options::default());
    let function = lower::lower(&cx, &sig, &item.block);
    let activity = analysis::analyze(&cx, &function, &sig);
    cx.check().expect("the test's function differentiates");
    let backward = reverse::reverse(&function, &activity);
    let mut out = function.print();
    out.push_str("--\n");
    out.push_str(&crate::ir::print::print_plan(&function, &backward));
    if forward {
        let active: Vec<bool> = sig.params.iter().map(|p| p.active).collect();
        let Ok(tangents) = tangent::transform(&function, &activity, &active, None) else {
            panic!("forward mode goes through the test's function");
        };
        out.push_str("--\n");
        out.push_str(&tangents.function.print());
    }
    out
}

fn check(source: &str, forward: bool, expect: Expect) {
    expect.assert_eq(&stages(source, forward));
}

#[test]
fn shopping_is_straight_line() {
    check(
        "fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
            let apple_price = apple * apple_num;
            let orange_price = orange * orange_num;
            let all_price = apple_price + orange_price;
            all_price * tax
        }",
        false,
        expect![[r#"
            fn(apple%0, apple_num%1, orange%2, orange_num%3, tax%4) -> %8
              apple_price%5 = mul apple%0, apple_num%1
              orange_price%6 = mul orange%2, orange_num%3
              all_price%7 = add apple_price%5, orange_price%6
              %8 = mul all_price%7, tax%4
            --
            the backward sweep keeps [apple%0, apple_num%1, orange%2, orange_num%3, tax%4, all_price%7]
        "#]],
    );
}

#[test]
fn rosenbrock_is_interleaved() {
    check(
        "fn rosenbrock(x: &[f64]) -> f64 {
            let mut s = 0.0;
            for i in 0..x.len() - 1 {
                s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
            }
            s
        }",
        false,
        expect![[r#"
            fn(x@0) -> s%18
              s%0 = copy 0.0
              %1 = len x@0
              %2 = sub %1, 1
              loop for i%4 in 0..%2 (count iterations%19) {
                s%3 = carried(s%0)
                %5 = add i%4, 1
                %6 = load x@0 %5
                %7 = load x@0 i%4
                %8 = load x@0 i%4
                %9 = mul %7, %8
                %10 = sub %6, %9
                %11 = powi %10, 2
                %12 = mul 100.0, %11
                %13 = load x@0 i%4
                %14 = sub 1.0, %13
                %15 = powi %14, 2
                %16 = add %12, %15
                s%17 = add s%3, %16
                next s%17 -> s%18
              }
            --
            loop iterations%19: Interleaved, range reversed, tape [] per iteration, recomputes [%5, %6, %7, %8, %9, %10, %13, %14]
            the backward sweep keeps [%2, all of x@0]
        "#]],
    );
}

#[test]
fn a_running_max_keeps_one_value_per_iteration() {
    check(
        "fn running_max(x: &[f64]) -> f64 {
            let mut m = x[0];
            for i in 1..x.len() {
                m = m.max(x[i]) * 0.5;
            }
            m
        }",
        false,
        expect![[r#"
            fn(x@0) -> m%7
              m%0 = load x@0 0
              %1 = len x@0
              loop for i%3 in 1..%1 (count iterations%8) {
                m%2 = carried(m%0)
                %4 = load x@0 i%3
                %5 = max m%2, %4
                m%6 = mul %5, 0.5
                next m%6 -> m%7
              }
            --
            loop iterations%8: Separate, range reversed, tape [m%2] per iteration, recomputes [%4, %5]
            the backward sweep keeps [%1, all of x@0]
        "#]],
    );
}

#[test]
fn a_branch_records_what_its_backward_sweep_reads() {
    check(
        "fn branch(x: f64, y: f64) -> f64 {
            let r = if x > y { (x * y).sin() } else { y.exp() };
            r * x
        }",
        false,
        expect![[r#"
            fn(x%0, y%1) -> %8
              %2 = opaque x%0, y%1
              if %2 (record %7) {
                %3 = mul x%0, y%1
                %4 = sin %3
              } else {
                %5 = exp y%1
              }
              %6 = phi(%4, %5)
              %8 = mul %6, x%0
            --
            if %7: records then [%3] else [%5]
            the backward sweep keeps [x%0, y%1, %6, %7]
        "#]],
    );
}

#[test]
fn forward_mode_puts_a_tangent_next_to_each_value() {
    check(
        "fn f(x: f64, w: &[f64]) -> f64 {
            let mut s = 0.0;
            for i in 0..w.len() {
                s += (w[i] * x).sin();
            }
            s / x
        }",
        true,
        expect![[r#"
            fn(x%0, w@0) -> %11
              s%1 = copy 0.0
              %2 = len w@0
              loop for i%4 in 0..%2 (count iterations%10) {
                s%3 = carried(s%1)
                %5 = load w@0 i%4
                %6 = mul %5, x%0
                %7 = sin %6
                s%8 = add s%3, %7
                next s%8 -> s%9
              }
              %11 = div s%9, x%0
            --
            loop iterations%10: Interleaved, range reversed, tape [] per iteration, recomputes [%5, %6]
            the backward sweep keeps [x%0, %2, %11, all of w@0]
            --
            fn(x%0, w@0, t_x%12, t_w@1) -> (%11, %28)
              s%1 = copy 0.0
              %2 = len w@0
              loop for i%4 in 0..%2 (count iterations%10) {
                s%3 = carried(s%1)
                t_s%13 = carried(0.0)
                %5 = load w@0 i%4
                %15 = load t_w@1 i%4
                %6 = mul %5, x%0
                %16 = mul x%0, %15
                %17 = mul %5, t_x%12
                %18 = add %16, %17
                %7 = sin %6
                %19 = cos %6
                %20 = mul %18, %19
                s%8 = add s%3, %7
                t_s%21 = add t_s%13, %20
                next s%8 -> s%9
                next t_s%21 -> t_s%14
              }
              %11 = div s%9, x%0
              %22 = div t_s%14, x%0
              %23 = unless_zero t_s%14, %22
              %24 = div t_x%12, x%0
              %25 = neg %24
              %26 = mul %25, %11
              %27 = unless_zero t_x%12, %26
              %28 = add %23, %27
        "#]],
    );
}

/// A packed triangle times a buffer the next pass overwrites: the counter `idx` is counted
/// back, `buf[c]` (fixed in the loop over `r`) is kept once per run of that loop, and its
/// adjoint summed in a local there.
#[test]
fn fixed_places_and_counters() {
    check(
        "fn packed(l: &[f64], v: &[f64]) -> f64 {
            let d = v.len();
            let mut buf = vec![0.0; d];
            let mut s = 0.0;
            for pass in 0..2 {
                for w in 0..d {
                    buf[w] = v[w] * (pass as f64 + 1.0);
                }
                let mut idx = 0;
                for c in 0..d {
                    for r in c..d {
                        s += (l[idx] * buf[c]).sin();
                        idx += 1;
                    }
                }
            }
            s
        }",
        false,
        expect![[r#"
            fn(l@0, v@1) -> s%29
              d%0 = len v@1
              let buf@2 = vec![0.0; d%0]
              s%1 = copy 0.0
              loop for pass%3 in 0..2 (count iterations%30) {
                s%2 = carried(s%1)
                loop for w%4 in 0..d%0 (count iterations%9) {
                  %5 = load v@1 w%4
                  %6 = cast pass%3
                  %7 = add %6, 1.0
                  %8 = mul %5, %7
                  buf@2[w%4] = %8
                }
                idx%10 = copy 0
                loop for c%13 in 0..d%0 (count iterations%28) {
                  idx%11 = carried(idx%10)
                  s%12 = carried(s%2)
                  loop for r%16 in c%13..d%0 (count iterations%25) {
                    idx%14 = carried(idx%11)
                    s%15 = carried(s%12)
                    %17 = load l@0 idx%14
                    %18 = load buf@2 c%13
                    %19 = mul %17, %18
                    %20 = sin %19
                    s%21 = add s%15, %20
                    idx%22 = add idx%14, 1
                    next idx%22 -> idx%23
                    next s%21 -> s%24
                  }
                  next idx%23 -> idx%26
                  next s%24 -> s%27
                }
                next s%27 -> s%29
              }
            --
            loop iterations%30: Interleaved, range reversed, tape [] per iteration, recomputes []
            loop iterations%9: Separate, range reversed, tape [] per iteration, recomputes [%6, %7]
            loop iterations%28: Separate, range reversed, tape [idx%23] per iteration, recomputes []
            loop iterations%25: Separate, range reversed, tape [] per iteration, recomputes [%17, %19], keeps [%18] once, counts back [idx%14], sums d_buf@2[c%13] locally
            the backward sweep keeps [d%0, all of l@0]
        "#]],
    );
}

/// Keeps the unused-import lint quiet when every test above is filtered out.
#[allow(dead_code)]
fn _tokens(_: TokenStream) {}
