//! Mistakes in `#[differentiate]` functions: each case in `tests/ui` must fail to compile with
//! the error in its `.stderr`, which points at the construct and says what to do instead.
//! Refresh the expected output with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
