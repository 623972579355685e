//! The generator of the randomized differential test `tests/random_functions_?.rs`.
//!
//! It writes, from a constant seed, [`FUNCTIONS`] random `#[differentiate]` functions that mix
//! arithmetic, every row of the derivative rules table, branches on data and on integers,
//! `match`, `for`/`while`/`loop` with `break`/`continue`/early `return`, nested and labelled
//! loops, local arrays, vectors and matrices with reads and writes, loop-carried overwrites and
//! accumulations, tuples, blocks, shadowing, `let` without a value, and calls of fixed
//! `#[differentiate]` helpers (scalar-, tuple-, array- and `Vec`-returning, a struct method),
//! also inside loops. Parameters are floats, slices, `Vec`s, arrays, matrices, slices of rows,
//! a `Differentiable` struct, and inactive `usize`/`i32`/`bool`; some functions use `wrt`.
//! Each function gets a twin (`_t`) that records its discrete decisions in a `Trace`, so the
//! harness (`harness.rs`) can pick points away from kinks and branch switches, and a `case!`
//! entry that runs the checks.
//!
//! The files are written into `OUT_DIR` by the root package's build script (`build.rs`) and
//! included by `tests/random_functions_{1..4}.rs`. The
//! functions are split over [`FILES`] test crates so that they compile in parallel; each check
//! is one item (`const CASE_F0001`), because closures are type-checked with the body that holds
//! them and one body with thousands of them type-checks slowly.
//!
//! Design choices:
//! - Every argument of a domain-restricted operation is kept inside its domain by construction
//!   (`ln` of `x.abs() + 0.5`, `asin` of `x.sin() * 0.9`, ...), so any point is valid.
//! - The generated code is warning-free and clippy-clean on its own (apart from the few style
//!   lints allowed on the module): every local is read, `mut` appears only where needed, and no
//!   value is overwritten before it is read. The macro's expansion of it is thereby also checked
//!   for warnings.
//! - Each function draws from its own stream (seeded by [`SEED`] and its index), so a change
//!   in one function does not reshuffle the others.

#[path = "rng.rs"]
#[allow(dead_code)] // shared with the harness, which uses the rest
mod rng;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rng::{Rng, hash_str};

/// The seed of the whole suite.
pub const SEED: u64 = 0x5eed_ad1f_2024_0001;
/// Number of generated functions.
pub const FUNCTIONS: usize = 1000;
/// The generated functions are split into this many test files, compiled in parallel:
/// `tests/random_functions_1.rs`, ... (each its own crate).
pub const FILES: usize = 4;

/// The name of generated file `k` (from 1) in the build script's `OUT_DIR`, included by
/// `tests/random_functions_k.rs`.
pub fn file_path(k: usize) -> String {
    format!("random_functions_{k}.rs")
}

/// Bugs this test found, all fixed (their patterns are generated): a local tuple read inside a
/// condition made the macro panic ("expected `,`"); the same variable passed to two parameters
/// of a call did not compile (E0499); a dead `x.len()` was left as a bare statement (an
/// `unused_must_use` warning in generated code); `*v` of an element of `x.iter()` inside a
/// condition did not compile (E0614); a tuple annotated as a whole (`let t: (f64, f64) = (0.7,
/// x)`) and a literal assigned to a variable (`b = 0.2; b.cos()`) left a float type ambiguous
/// (E0689); an element of a struct's field as a branch's value next to a number was rejected.
/// A pattern that exposes a new bug can be left out of the generator while it is open.
/// Every row of `autodiff-macro/src/rules.rs`, by name; the generator uses each of them.
pub const RULES: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "rem",
    "neg",
    "cast",
    "exp",
    "exp2",
    "exp_m1",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "log",
    "sqrt",
    "cbrt",
    "powi",
    "powf",
    "recip",
    "hypot",
    "mul_add",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "to_degrees",
    "to_radians",
    "abs",
    "max",
    "min",
    "clamp",
    "signum",
    "floor",
    "ceil",
    "round",
    "trunc",
];

/// The constructs the generator counts, to check that each one occurs.
pub const CONSTRUCTS: &[&str] = &[
    "let",
    "let: annotated",
    "shadowing",
    "compound assignment",
    "overwrite",
    "overwrite: self-referencing",
    "tuple swap",
    "tuple let",
    "tuple value",
    "block",
    "if",
    "if: else",
    "if: else if",
    "if: on data",
    "let = if",
    "match",
    "match: guard on data",
    "match: range pattern",
    "let = match",
    "for: range",
    "for: range with 0 iterations possible",
    "for: rev",
    "for: inclusive",
    "for: iter",
    "for: iter by value",
    "for: enumerate",
    "for: zip",
    "for: in array",
    "for: nested",
    "for: triangular",
    "for: computed bound",
    "for: rows",
    "labelled continue",
    "labelled break",
    "while",
    "while: on data",
    "loop: break",
    "loop: break with value",
    "break on data",
    "continue",
    "early return",
    "early return in loop",
    "array: [0.0; N]",
    "array: vec![0.0; n]",
    "array: to_vec",
    "array: literal",
    "array: copy",
    "array: matrix",
    "array: store",
    "array: compound store",
    "array: recurrence",
    "array: index arithmetic",
    "array: index from data",
    "call: scalar",
    "call: tuple",
    "call: array",
    "call: Vec",
    "call: in loop",
    "call: with branch",
    "call: struct",
    "call: result passed on or iterated",
    "struct: field",
    "param: &Params",
    "param: Params",
    "param: f64",
    "param: mut f64",
    "param: &[f64]",
    "param: Vec<f64>",
    "param: [f64; N]",
    "param: mut [f64; N]",
    "param: &[f64; N]",
    "param: &[[f64; M]; N]",
    "param: &[[f64; 2]]",
    "call: row by value",
    "param: usize",
    "param: i32",
    "param: bool",
    "let: uninitialized",
    "wrt",
    "path form",
    "constant",
];

const ATOM: u8 = 9;
const UNARY: u8 = 8;
const CAST: u8 = 7;
const MUL: u8 = 6;
const ADD: u8 = 5;
const CMP: u8 = 4;
const AND: u8 = 3;
const OR: u8 = 2;

/// A function stops growing past this many lines (the statement in progress completes).
const MAX_LINES: usize = 24;

/// Markers patched once the whole function is known.
const MARK: char = '\u{1}';

/// An expression, written twice: plain (`p`) and in the traced twin (`t`).
#[derive(Clone, Debug)]
struct E {
    p: String,
    t: String,
    prec: u8,
    /// Made of float literals only: its float type is not inferred.
    lit: bool,
    /// A `&f64` (an element bound by `for v in x.iter()`).
    by_ref: bool,
    /// The top-level binary operator and its operands, for clippy's `misrefactored_assign_op`.
    bin: Option<(&'static str, String, String)>,
    /// An element of a struct's field.
    field: bool,
}

impl E {
    fn same(s: impl Into<String>, prec: u8) -> E {
        let s = s.into();
        E {
            t: s.clone(),
            p: s,
            prec,
            lit: false,
            by_ref: false,
            bin: None,
            field: false,
        }
    }

    fn two(p: String, t: String, prec: u8) -> E {
        E {
            p,
            t,
            prec,
            lit: false,
            by_ref: false,
            bin: None,
            field: false,
        }
    }

    /// Both texts, in parentheses if the precedence is below `min`.
    fn at(&self, min: u8) -> (String, String) {
        if self.prec >= min {
            (self.p.clone(), self.t.clone())
        } else {
            (format!("({})", self.p), format!("({})", self.t))
        }
    }

    /// The value itself (`*v` for an element reference).
    fn val(self) -> E {
        if self.by_ref {
            E::two(format!("*{}", self.p), format!("*{}", self.t), UNARY)
        } else {
            self
        }
    }
}

fn lit(v: f64) -> E {
    let s = format!("{v:?}");
    let mut e = E::same(s, if v < 0.0 { UNARY } else { ATOM });
    e.lit = true;
    e
}

fn join(args: &[E]) -> (String, String) {
    let p: Vec<&str> = args.iter().map(|a| a.p.as_str()).collect();
    let t: Vec<&str> = args.iter().map(|a| a.t.as_str()).collect();
    (p.join(", "), t.join(", "))
}

/// `r.name(args)` in both texts.
fn method(r: &E, name: &str, args: &[E]) -> E {
    let (rp, rt) = r.at(ATOM);
    let (ap, at) = join(args);
    E::two(
        format!("{rp}.{name}({ap})"),
        format!("{rt}.{name}({at})"),
        ATOM,
    )
}

/// `r.name(args)`, traced as `tr.name(r, args)`.
fn kink(r: &E, name: &str, args: &[E]) -> E {
    let (rp, _) = r.at(ATOM);
    let (ap, _) = join(args);
    let mut all = vec![r.clone().val()];
    all.extend(args.iter().cloned());
    let (_, at) = join(&all);
    E::two(
        format!("{rp}.{name}({ap})"),
        format!("tr.{name}({at})"),
        ATOM,
    )
}

/// `f64::name(args)`, traced as `tr.name(args)` when `traced`.
fn path_call(name: &str, args: &[E], traced: bool) -> E {
    let (ap, at) = join(args);
    let t = if traced {
        format!("tr.{name}({at})")
    } else {
        format!("f64::{name}({at})")
    };
    E::two(format!("f64::{name}({ap})"), t, ATOM)
}

fn bin(a: &E, op: &'static str, b: &E) -> E {
    let prec = match op {
        "+" | "-" => ADD,
        "*" | "/" | "%" => MUL,
        "<" | ">" | "<=" | ">=" | "==" | "!=" => CMP,
        "&&" => AND,
        "||" => OR,
        _ => unreachable!("operator {op}"),
    };
    // Left-associative: the right operand needs a strictly higher precedence. A cast directly
    // left of `<` would start generic arguments, so comparisons parenthesize casts.
    let left_min = if prec == CMP { CAST + 1 } else { prec };
    let (lp, lt) = a.at(left_min);
    let (rp, rt) = b.at(if prec == CMP { CAST + 1 } else { prec + 1 });
    let mut e = E::two(format!("{lp} {op} {rp}"), format!("{lt} {op} {rt}"), prec);
    e.lit = a.lit && b.lit;
    e.bin = Some((op, a.p.clone(), b.p.clone()));
    e
}

fn neg(a: &E) -> E {
    let (p, t) = a.at(ATOM);
    let mut e = E::two(format!("-{p}"), format!("-{t}"), UNARY);
    e.lit = a.lit;
    e
}

/// The same text, or the same commutative operation with its operands swapped (clippy's
/// `eq_op` sees through that).
fn same_value(a: &E, b: &E) -> bool {
    if a.p == b.p {
        return true;
    }
    match (&a.bin, &b.bin) {
        (Some((o1, l1, r1)), Some((o2, l2, r2))) => {
            o1 == o2 && matches!(*o1, "+" | "*") && l1 == r2 && r1 == l2
        }
        _ => false,
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn call(name: &str, args: &[E]) -> E {
    let (ap, at) = join(args);
    E::two(format!("{name}({ap})"), format!("{name}({at})"), ATOM)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    SliceParam,
    VecParam,
    ArrayParam,
    ArrayRefParam,
    MatrixParam,
    /// `&[[f64; 2]]`: a slice of rows.
    RowsParam,
    LocalArray,
    LocalVec,
    LocalMatrix,
    /// An array `[f64; 3]` returned by a call: read, iterated and passed on, never written or
    /// copied (the macro does not support that; it says so at compile time).
    Returned,
    /// A `Vec` returned by a call, the same.
    ReturnedVec,
    /// A row of a matrix bound by `for row in m.iter()`: read by index only.
    Row,
}

impl Form {
    /// A whole array, vector or slice (not a row): it can be iterated, passed by reference and
    /// asked for its `.len()`.
    fn whole(self) -> bool {
        !matches!(self, Form::Row)
    }

    /// A value returned by a call.
    fn returned(self) -> bool {
        matches!(self, Form::Returned | Form::ReturnedVec)
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Float {
        by_ref: bool,
    },
    /// An integer with a static range `lo..=hi`; `typed` if rustc knows it is a `usize`
    /// without looking at its uses.
    Int {
        lo: usize,
        hi: usize,
        typed: bool,
    },
    Arr {
        len: usize,
        cols: usize,
        form: Form,
    },
    Pair,
    /// An `i32` parameter in `0..=hi`: for `powi`, casts, conditions and `match`.
    I32 {
        hi: usize,
    },
    /// A `bool` parameter: for conditions.
    Bool,
    /// A `Params` struct parameter (see `HELPERS`), by value or by reference.
    Struct {
        by_ref: bool,
    },
}

#[derive(Clone, Debug)]
struct Var {
    name: String,
    kind: Kind,
    assignable: bool,
    read: bool,
    written: bool,
    /// Written, and maybe not read since (on some path).
    dirty: bool,
    depth: usize,
}

struct Loop {
    /// The label and its index in `FnGen::labels_used`.
    label: Option<(String, usize)>,
    /// A `loop` whose value is given by `break e`: no plain `break` may target it.
    valued: bool,
    /// Scope depth outside the loop: variables declared below it outlive the loop.
    outer_depth: usize,
}

#[derive(Clone, Debug)]
enum ParamTy {
    F64,
    Slice(usize),
    Vec(usize),
    Array(usize),
    ArrayRef(usize),
    Matrix(usize, usize),
    /// `&[[f64; 2]]` with this many rows.
    Rows(usize),
    Usize(usize),
    I32(usize),
    Bool,
    /// `Params` (3 + 1 + 3 coordinates), by reference if `true`.
    Struct(bool),
}

impl ParamTy {
    /// Not differentiable: an integer or a `bool`.
    fn integer(&self) -> bool {
        matches!(self, ParamTy::Usize(_) | ParamTy::I32(_) | ParamTy::Bool)
    }
}

struct Param {
    name: String,
    ty: ParamTy,
    mutable: bool,
    active: bool,
}

/// Counts of rules and constructs over the generated suite.
#[derive(Default)]
pub struct Stats {
    pub rules: BTreeMap<String, usize>,
    pub constructs: BTreeMap<String, usize>,
    pub lines: usize,
}

impl Stats {
    fn rule(&mut self, name: &str) {
        *self.rules.entry(name.to_owned()).or_default() += 1;
    }

    fn construct(&mut self, name: &str) {
        debug_assert!(CONSTRUCTS.contains(&name), "unknown construct {name}");
        *self.constructs.entry(name.to_owned()).or_default() += 1;
    }
}

const FLOAT_NAMES: &[&str] = &[
    "a", "b", "c", "d", "s", "t", "u", "v", "w", "y", "z", "p", "q", "r", "e", "g",
];
const ARRAY_NAMES: &[&str] = &["xs", "ys", "ws", "buf", "tmp", "vals", "hs", "zs"];
const INT_NAMES: &[&str] = &["n", "k", "m"];
const INDEX_NAMES: &[&str] = &["i", "j", "l", "ii", "jj"];
const COUNTER_NAMES: &[&str] = &["cnt", "step", "it", "round"];

struct FnGen<'s> {
    rng: Rng,
    stats: &'s mut Stats,
    vars: Vec<Var>,
    scopes: Vec<Vec<usize>>,
    loops: Vec<Loop>,
    lines: Vec<(usize, String, String)>,
    indent: usize,
    acc: usize,
    /// Arrays iterated by an enclosing `for`, which the body may not write.
    borrowed: Vec<usize>,
    fresh: usize,
    /// Variables that may not be read here (a `Vec` whose element is being assigned: reading it
    /// in the index would borrow it twice).
    unreadable: Vec<usize>,
    /// Inside an expression the macro keeps as written (a condition, an `as usize`).
    opaque: usize,
    /// Whether each label was targeted (an unused label is a warning).
    labels_used: Vec<bool>,
    /// Statements left to generate (a soft limit on the function's size).
    budget: usize,
}

impl<'s> FnGen<'s> {
    // Variables ---------------------------------------------------------------------------

    fn new_var(&mut self, name: &str, kind: Kind, assignable: bool) -> usize {
        self.vars.push(Var {
            name: name.to_owned(),
            kind,
            assignable,
            read: false,
            written: false,
            // The initial value must be read before it is overwritten.
            dirty: true,
            depth: self.scopes.len() - 1,
        });
        self.vars.len() - 1
    }

    fn declare(&mut self, id: usize) {
        self.vars[id].depth = self.scopes.len() - 1;
        self.scopes.last_mut().expect("a scope").push(id);
    }

    fn visible(&self) -> Vec<usize> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for &id in scope.iter().rev() {
                let name = self.vars[id].name.as_str();
                if !seen.contains(&name) {
                    seen.push(name);
                    out.push(id);
                }
            }
        }
        out
    }

    fn visible_where(&self, f: impl Fn(&Var) -> bool) -> Vec<usize> {
        self.visible()
            .into_iter()
            .filter(|&id| id != self.acc && !self.unreadable.contains(&id) && f(&self.vars[id]))
            .collect()
    }

    fn pick_where(&mut self, f: impl Fn(&Var) -> bool) -> Option<usize> {
        let ids = self.visible_where(f);
        if ids.is_empty() {
            None
        } else {
            Some(*self.rng.pick(&ids))
        }
    }

    fn is_visible_name(&self, name: &str) -> bool {
        self.visible().iter().any(|&id| self.vars[id].name == name)
    }

    fn read(&mut self, id: usize) -> E {
        let var = &mut self.vars[id];
        var.read = true;
        var.dirty = false;
        let mut e = E::same(var.name.clone(), ATOM);
        if let Kind::Float { by_ref: true } = var.kind {
            e.by_ref = true;
        }
        e
    }

    fn write(&mut self, id: usize) {
        self.vars[id].written = true;
        self.vars[id].dirty = true;
    }

    /// The read/dirty flags, to undo the reads of an expression that is thrown away.
    fn snapshot(&self) -> Vec<(bool, bool)> {
        self.vars.iter().map(|v| (v.read, v.dirty)).collect()
    }

    fn restore(&mut self, snapshot: &[(bool, bool)]) {
        for (var, &(read, dirty)) in self.vars.iter_mut().zip(snapshot) {
            var.read = read;
            var.dirty = dirty;
        }
    }

    fn dirty_state(&self) -> Vec<bool> {
        self.vars.iter().map(|v| v.dirty).collect()
    }

    /// After code that runs one of several ways: dirty if dirty on some path.
    fn merge_dirty(&mut self, states: &[Vec<bool>]) {
        for (id, var) in self.vars.iter_mut().enumerate() {
            var.dirty = states.iter().any(|s| s.get(id).copied().unwrap_or(false));
        }
    }

    fn set_dirty(&mut self, state: &[bool]) {
        for (id, var) in self.vars.iter_mut().enumerate() {
            var.dirty = state.get(id).copied().unwrap_or(false);
        }
    }

    fn new_name(&mut self, pool: &[&str]) -> String {
        for _ in 0..4 {
            let name = *self.rng.pick(pool);
            if !self.is_visible_name(name) {
                return name.to_owned();
            }
        }
        self.fresh += 1;
        format!("{}{}", self.rng.pick(pool), self.fresh)
    }

    fn mut_mark(id: usize) -> String {
        format!("{MARK}M{id}{MARK}")
    }

    fn name_mark(id: usize) -> String {
        format!("{MARK}N{id}{MARK}")
    }

    // Output ------------------------------------------------------------------------------

    fn emit(&mut self, p: impl Into<String>, t: impl Into<String>) {
        self.lines.push((self.indent, p.into(), t.into()));
    }

    fn emit_same(&mut self, s: impl Into<String>) {
        let s = s.into();
        self.emit(s.clone(), s);
    }

    fn push_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    /// Closes a block: every local that was never read, or written since it was last read, is
    /// added into the accumulator, so that nothing is unused.
    fn pop_scope(&mut self) {
        let ids = self.scopes.last().cloned().unwrap_or_default();
        let visible = self.visible();
        for id in ids {
            if visible.contains(&id) {
                self.consume(id);
            }
        }
        self.scopes.pop();
    }

    /// The part of a tail expression that reads `id` if it must be read, else `None`.
    fn consumption(&mut self, id: usize) -> Option<E> {
        let var = self.vars[id].clone();
        if var.read && !var.dirty {
            return None;
        }
        match var.kind {
            Kind::Float { .. } => Some(self.read(id).val()),
            Kind::Pair => {
                let r = self.read(id);
                Some(E::same(format!("{}.1", r.p), ATOM))
            }
            Kind::Arr { len, cols, .. } => {
                self.read(id);
                if len == 0 {
                    Some(E::same(format!("{}.len() as f64", var.name), CAST))
                } else if cols > 0 {
                    Some(E::same(format!("{}[{}][0]", var.name, len - 1), ATOM))
                } else {
                    Some(E::same(format!("{}[{}]", var.name, len - 1), ATOM))
                }
            }
            Kind::Struct { .. } => {
                let s = self.read(id);
                Some(E::same(format!("{}.b", s.p), ATOM))
            }
            Kind::Int { .. } | Kind::I32 { .. } | Kind::Bool => {
                // Loop indices left unread are bound to `_` instead.
                if var.read || var.depth > 0 {
                    None
                } else {
                    self.read(id);
                    let cast = if matches!(var.kind, Kind::Bool) {
                        " as u8"
                    } else {
                        ""
                    };
                    Some(E::same(format!("{}{cast} as f64", var.name), CAST))
                }
            }
        }
    }

    fn consume(&mut self, id: usize) {
        if let Some(e) = self.consumption(id) {
            let acc = self.acc;
            let rhs = if matches!(
                self.vars[id].kind,
                Kind::Int { .. } | Kind::I32 { .. } | Kind::Bool
            ) {
                bin(&e, "*", &lit(0.5))
            } else {
                e
            };
            self.emit(format!("acc += {};", rhs.p), format!("acc += {};", rhs.t));
            self.write(acc);
        }
    }

    // Expressions -------------------------------------------------------------------------

    fn literal(&mut self) -> E {
        let v = *self
            .rng
            .pick(&[0.5, 1.5, 2.0, 0.3, 0.7, 1.2, 0.9, 2.5, 0.2, -0.5, -1.5, 0.1]);
        lit(v)
    }

    fn int_val(&mut self, id: usize) -> (usize, usize) {
        match self.vars[id].kind {
            Kind::Int { lo, hi, .. } => (lo, hi),
            Kind::I32 { hi } => (0, hi),
            _ => unreachable!("not an integer"),
        }
    }

    /// The length of an array as written in the code: `x.len()` or the literal.
    fn len_text(&mut self, id: usize) -> String {
        let var = self.vars[id].clone();
        let Kind::Arr { len, form, .. } = var.kind else {
            unreachable!("not an array")
        };
        if !form.whole() || self.rng.chance(0.2) {
            format!("{len}")
        } else {
            self.read(id);
            format!("{}.len()", var.name)
        }
    }

    /// An index into an array of length `len` (`len > 0`), whose length is written
    /// `len_text`.
    fn index(&mut self, len: usize, len_text: &str) -> E {
        if len == 1 {
            // `i % 1` is clippy's `modulo_one`.
            return E::same("0", ATOM);
        }
        let ints = self.visible_where(|v| matches!(v.kind, Kind::Int { .. }));
        // Prefer the innermost loop index.
        let innermost = ints.first().copied();
        let r = self.rng.below(100);
        if r < 8 || ints.is_empty() {
            if self.rng.chance(0.15) && len > 1 {
                self.stats.construct("array: index from data");
                self.opaque += 1;
                let x = self.typed(1).val();
                self.opaque -= 1;
                let b = self.bounded(&x);
                let scaled = bin(&method(&b, "abs", &[]), "*", &lit(2.9));
                let fl = kink(&scaled, "floor", &[]);
                self.stats.rule("floor");
                self.stats.rule("abs");
                let (fp, ft) = fl.at(UNARY);
                return E::two(
                    format!("({fp} as usize) % {len_text}"),
                    format!("({ft} as usize) % {len_text}"),
                    MUL,
                );
            }
            return E::same(format!("{}", self.rng.below(len)), ATOM);
        }
        let id = if r < 60 {
            innermost.expect("not empty")
        } else {
            *self.rng.pick(&ints)
        };
        let (lo, hi) = self.int_val(id);
        let typed = matches!(self.vars[id].kind, Kind::Int { typed: true, .. });
        let i = self.read(id);
        let name = i.p.clone();
        let mut options: Vec<E> = Vec::new();
        if hi < len {
            options.push(E::same(name.clone(), ATOM));
            options.push(E::same(name.clone(), ATOM));
            options.push(E::same(format!("{len_text} - 1 - {name}"), ADD));
        }
        if hi + 1 < len {
            options.push(E::same(format!("{name} + 1"), ADD));
        }
        if lo >= 1 && hi <= len {
            options.push(E::same(format!("{name} - 1"), ADD));
        }
        let c = self.rng.range(1, 3);
        options.push(E::same(format!("({name} + {c}) % {len_text}"), MUL));
        options.push(E::same(format!("{name} % {len_text}"), MUL));
        options.push(E::same(format!("({name} * 2 + 1) % {len_text}"), MUL));
        if typed {
            options.push(E::same(format!("{name}.min({len_text} - 1)"), ATOM));
        }
        let e = self.rng.pick(&options).clone();
        if e.p != name {
            self.stats.construct("array: index arithmetic");
        }
        e
    }

    /// A read of an element of some visible array, if there is one.
    fn array_read(&mut self) -> Option<E> {
        let id = self.pick_where(|v| matches!(v.kind, Kind::Arr { len, .. } if len > 0))?;
        let Kind::Arr { len, cols, .. } = self.vars[id].kind.clone() else {
            unreachable!()
        };
        let lt = self.len_text(id);
        let i = self.index(len, &lt);
        let a = self.read(id);
        if cols > 0 {
            let j = self.index(cols, &format!("{cols}"));
            return Some(E::two(
                format!("{}[{}][{}]", a.p, i.p, j.p),
                format!("{}[{}][{}]", a.t, i.t, j.t),
                ATOM,
            ));
        }
        Some(E::two(
            format!("{}[{}]", a.p, i.p),
            format!("{}[{}]", a.t, i.t),
            ATOM,
        ))
    }

    /// A field of a visible struct parameter: `sp.b`, `sp.w[i]`, `sp.v[i]`.
    fn struct_read(&mut self) -> Option<E> {
        let id = self.pick_where(|v| matches!(v.kind, Kind::Struct { .. }))?;
        let s = self.read(id).p;
        self.stats.construct("struct: field");
        Some(match self.rng.below(3) {
            0 => E::same(format!("{s}.b"), ATOM),
            k => {
                let field = if k == 1 { "w" } else { "v" };
                let i = self.index(3, "3");
                let mut e = E::two(
                    format!("{s}.{field}[{}]", i.p),
                    format!("{s}.{field}[{}]", i.t),
                    ATOM,
                );
                e.field = true;
                e
            }
        })
    }

    fn leaf(&mut self) -> E {
        loop {
            match self.rng.weighted(&[10, 7, 3, 2, 1, 2, 1]) {
                0 => {
                    let id = self.pick_where(|v| matches!(v.kind, Kind::Float { .. }));
                    if let Some(id) = id {
                        return self.read(id);
                    }
                }
                1 => {
                    if let Some(e) = self.array_read() {
                        return e;
                    }
                }
                2 => return self.literal(),
                3 => {
                    if let Some(id) =
                        self.pick_where(|v| matches!(v.kind, Kind::Int { .. } | Kind::I32 { .. }))
                    {
                        let i = self.read(id);
                        return E::same(format!("{} as f64", i.p), CAST);
                    }
                }
                5 if self.rng.chance(0.7) => {
                    if let Some(e) = self.struct_read() {
                        return e;
                    }
                }
                4 => {
                    if let Some(id) = self.pick_where(|v| matches!(v.kind, Kind::Pair)) {
                        let t = self.read(id);
                        let k = self.rng.below(2);
                        self.stats.construct("tuple value");
                        return E::same(format!("{}.{k}", t.p), ATOM);
                    }
                }
                _ => {
                    self.stats.construct("constant");
                    let c = *self
                        .rng
                        .pick(&["std::f64::consts::PI", "core::f64::consts::E"]);
                    return E::same(c, ATOM);
                }
            }
        }
    }

    /// A leaf that is not a bare literal (a method receiver must have a known float type).
    fn typed_leaf(&mut self) -> E {
        for _ in 0..8 {
            let e = self.leaf();
            if !e.lit {
                return e;
            }
        }
        E::same("std::f64::consts::PI", ATOM)
    }

    fn typed(&mut self, d: usize) -> E {
        for _ in 0..4 {
            let e = self.fexpr(d);
            if !e.lit {
                return e;
            }
        }
        self.typed_leaf()
    }

    /// A float expression of depth at most `d`.
    fn fexpr(&mut self, d: usize) -> E {
        if d == 0 {
            return self.leaf();
        }
        match self.rng.weighted(&[20, 26, 6, 4, 42, 8]) {
            0 => self.leaf(),
            1 => {
                let op = *self.rng.pick(&["+", "-", "*", "+", "*"]);
                let a = self.fexpr(d - 1);
                let mut snap = self.snapshot();
                let mut b = self.fexpr(d - 1);
                for _ in 0..4 {
                    // Not `a - a`, nor two literals (their float type is not inferred).
                    if !(same_value(&a, &b) || a.lit && b.lit) {
                        break;
                    }
                    self.restore(&snap);
                    snap = self.snapshot();
                    b = self.typed(d - 1);
                }
                if same_value(&a, &b) {
                    b = bin(&b, "*", &lit(0.5));
                }
                self.stats.rule(match op {
                    "+" => "add",
                    "-" => "sub",
                    _ => "mul",
                });
                bin(&a, op, &b)
            }
            2 => {
                let a = self.fexpr(d - 1);
                let x = self.typed(d - 1).val();
                let b = self.positive(&x);
                self.stats.rule("div");
                bin(&a, "/", &b)
            }
            3 => {
                let a = self.typed(d - 1);
                self.stats.rule("neg");
                neg(&a)
            }
            4 => self.rule_expr(d),
            _ => self.helper_call(d),
        }
    }

    /// A positive expression of `x` (at least about 0.3), using one of several rules.
    fn positive(&mut self, x: &E) -> E {
        match self.rng.below(7) {
            0 => {
                self.stats.rule("abs");
                self.stats.rule("add");
                bin(&kink(x, "abs", &[]), "+", &lit(0.5))
            }
            1 => {
                self.stats.rule("sin");
                self.stats.rule("add");
                bin(&lit(2.0), "+", &method(x, "sin", &[]))
            }
            2 => {
                self.stats.rule("tanh");
                self.stats.rule("exp");
                method(&method(x, "tanh", &[]), "exp", &[])
            }
            3 => {
                self.stats.rule("hypot");
                method(x, "hypot", &[lit(1.0)])
            }
            4 => {
                self.stats.rule("tanh");
                self.stats.rule("add");
                bin(&lit(1.5), "+", &method(x, "tanh", &[]))
            }
            5 if x.prec == ATOM && x.p.len() < 12 => {
                self.stats.rule("mul");
                self.stats.rule("add");
                bin(&lit(1.0), "+", &bin(x, "*", x))
            }
            _ => {
                self.stats.rule("cos");
                self.stats.rule("add");
                bin(&lit(1.5), "+", &method(x, "cos", &[]))
            }
        }
    }

    /// An expression of `x` in `[-1, 1]`.
    fn bounded(&mut self, x: &E) -> E {
        let name = *self.rng.pick(&["sin", "tanh", "cos", "tanh"]);
        self.stats.rule(name);
        method(x, name, &[])
    }

    /// `r.name(args)` or `f64::name(r, args)`, traced if a kink.
    fn apply(&mut self, name: &'static str, r: &E, args: &[E]) -> E {
        self.stats.rule(name);
        let is_kink = matches!(
            name,
            "abs" | "signum" | "max" | "min" | "clamp" | "floor" | "ceil" | "round" | "trunc"
        );
        if self.rng.chance(0.12) {
            self.stats.construct("path form");
            let mut all = vec![r.clone().val()];
            all.extend(args.iter().cloned());
            return path_call(name, &all, is_kink);
        }
        if is_kink {
            kink(r, name, args)
        } else {
            method(r, name, args)
        }
    }

    /// One of the rules of the table, with its arguments kept inside its domain.
    fn rule_expr(&mut self, d: usize) -> E {
        let name = *self.rng.pick(RULES);
        if matches!(name, "add" | "sub" | "mul" | "div" | "neg") {
            return self.fexpr(d);
        }
        let x = self.typed(d - 1);
        match name {
            "rem" => {
                let b = if self.rng.chance(0.3) {
                    lit(1.5)
                } else {
                    let y = self.typed(d - 1).val();
                    self.positive(&y)
                };
                self.stats.rule("rem");
                let (ap, _) = x.at(MUL);
                let (bp, _) = b.at(MUL + 1);
                let xv = x.clone().val();
                E::two(
                    format!("{ap} % {bp}"),
                    format!("tr.rem({}, {})", xv.t, b.t),
                    MUL,
                )
            }
            "cast" => {
                self.stats.rule("cast");
                let (p, t) = x.clone().val().at(UNARY);
                E::two(format!("{p} as f64"), format!("{t} as f64"), CAST)
            }
            "exp" | "exp2" | "exp_m1" | "sinh" | "cosh" | "tan" => {
                let b = self.bounded(&x);
                self.apply(name, &b, &[])
            }
            "to_degrees" => {
                // Scaled back: a factor 57 per use makes functions too steep for finite
                // differences.
                let b = self.bounded(&x);
                let d = self.apply(name, &b, &[]);
                self.stats.rule("mul");
                bin(&d, "*", &lit(0.02))
            }
            "ln" | "log2" | "log10" | "sqrt" | "cbrt" | "ln_1p" | "recip" => {
                let arg = if name == "cbrt" && self.rng.chance(0.3) {
                    // A negative argument, away from zero.
                    let b = self.bounded(&x);
                    self.stats.rule("sub");
                    bin(&b, "-", &lit(2.0))
                } else {
                    self.positive(&x)
                };
                self.apply(name, &arg, &[])
            }
            "log" => {
                let a = self.positive(&x);
                let base = if self.rng.chance(0.3) {
                    lit(3.0)
                } else {
                    let y = self.typed(d - 1);
                    self.stats.rule("sin");
                    self.stats.rule("add");
                    bin(&lit(2.5), "+", &method(&y, "sin", &[]))
                };
                self.apply("log", &a, &[base.val()])
            }
            "powi" => {
                let i32s = self.visible_where(|v| matches!(v.kind, Kind::I32 { .. }));
                if !i32s.is_empty() && self.rng.chance(0.5) {
                    let id = *self.rng.pick(&i32s);
                    let k = self.read(id);
                    let b = self.bounded(&x);
                    return self.apply("powi", &b, &[k]);
                }
                let small = self.visible_where(
                    |v| matches!(v.kind, Kind::Int { hi, typed: true, .. } if hi <= 5),
                );
                if !small.is_empty() && self.rng.chance(0.25) {
                    let id = *self.rng.pick(&small);
                    let k = self.read(id);
                    let b = self.bounded(&x);
                    return self.apply("powi", &b, &[E::same(format!("{} as i32", k.p), CAST)]);
                }
                let n: i32 = *self.rng.pick(&[2, 3, -1, -2, 2, 0, 1, 4]);
                let base = if n < 0 {
                    self.positive(&x)
                } else if n >= 3 {
                    self.bounded(&x)
                } else {
                    x
                };
                self.apply("powi", &base, &[E::same(format!("{n}"), ATOM)])
            }
            "powf" => match self.rng.below(3) {
                0 => {
                    let b = self.bounded(&x);
                    let base = E::same("2.5_f64", ATOM);
                    self.apply("powf", &base, &[b.val()])
                }
                1 => {
                    let a = self.positive(&x);
                    self.apply("powf", &a, &[lit(2.5)])
                }
                _ => {
                    let a = self.positive(&x);
                    let y = self.typed(d - 1);
                    let b = self.bounded(&y);
                    self.stats.rule("mul");
                    let e = bin(&b, "*", &lit(1.5));
                    self.apply("powf", &a, &[e])
                }
            },
            "hypot" | "atan2" => {
                let y = self.typed(d - 1).val();
                if name == "atan2" && self.rng.chance(0.3) {
                    // Across the branch cut: `b < 0`.
                    let b = self.bounded(&y);
                    self.stats.rule("sub");
                    let b = bin(&b, "-", &lit(1.5));
                    self.stats.rule("atan2");
                    let xv = x.clone().val();
                    let (rp, _) = xv.at(ATOM);
                    return E::two(
                        format!("{rp}.atan2({})", b.p),
                        format!("tr.atan2({}, {})", xv.t, b.t),
                        ATOM,
                    );
                }
                let b = self.positive(&y);
                self.apply(name, &x, &[b])
            }
            "mul_add" => {
                let y = self.fexpr(d - 1).val();
                let z = self.fexpr(d - 1).val();
                self.apply("mul_add", &x, &[y, z])
            }
            "sin" | "cos" | "atan" | "tanh" | "asinh" | "to_radians" | "abs" => {
                self.apply(name, &x, &[])
            }
            "acosh" => {
                // Away from 1, where the derivative is infinite.
                let p = self.positive(&x);
                self.stats.rule("add");
                self.apply(name, &bin(&p, "+", &lit(1.2)), &[])
            }
            "atanh" => {
                let b = self.bounded(&x);
                self.stats.rule("mul");
                let b = bin(&b, "*", &lit(0.9));
                self.apply(name, &b, &[])
            }
            "asin" | "acos" => {
                let b = self.bounded(&x);
                self.stats.rule("mul");
                let b = bin(&b, "*", &lit(0.9));
                self.apply(name, &b, &[])
            }
            "signum" => {
                let s = self.apply("signum", &x, &[]);
                let y = self.typed(d - 1);
                self.stats.rule("mul");
                bin(&s, "*", &y)
            }
            "max" | "min" => {
                let mut y = self.typed(d - 1).val();
                if y.p == x.p {
                    y = bin(&y, "*", &lit(0.5));
                }
                self.apply(name, &x, &[y])
            }
            "clamp" => {
                let bound = self.pick_where(|v| matches!(v.kind, Kind::Float { .. }));
                match bound {
                    Some(id) if self.rng.chance(0.5) => {
                        let v = self.read(id).val();
                        self.stats.rule("sub");
                        self.stats.rule("add");
                        let lo = bin(&v, "-", &lit(0.5));
                        let hi = bin(&v, "+", &lit(0.5));
                        self.apply("clamp", &x, &[lo, hi])
                    }
                    _ => self.apply("clamp", &x, &[lit(-0.5), lit(0.8)]),
                }
            }
            "floor" | "ceil" | "round" | "trunc" => {
                self.stats.rule("mul");
                let scaled = bin(&x, "*", &lit(1.5));
                let r = self.apply(name, &scaled, &[]);
                if self.rng.chance(0.5) {
                    let y = self.typed(d - 1);
                    self.stats.rule("add");
                    bin(&r, "+", &y)
                } else {
                    self.stats.rule("mul");
                    bin(&r, "*", &lit(0.3))
                }
            }
            _ => unreachable!("rule {name}"),
        }
    }

    /// An argument that is a whole 1-D array: `x`, `&a`.
    fn array_arg(&mut self) -> Option<(E, usize)> {
        self.array_arg_min(0)
    }

    fn array_arg_min(&mut self, min_len: usize) -> Option<(E, usize)> {
        let id = self.pick_where(|v| {
            matches!(v.kind, Kind::Arr { cols: 0, form, len } if form.whole() && len >= min_len)
        })?;
        let Kind::Arr { len, form, .. } = self.vars[id].kind.clone() else {
            unreachable!()
        };
        let a = self.read(id);
        if form.returned() {
            self.stats.construct("call: result passed on or iterated");
        }
        let e = match form {
            Form::SliceParam | Form::ArrayRefParam => a,
            _ => E::same(format!("&{}", a.p), UNARY),
        };
        Some((e, len))
    }

    /// An `&[f64; 3]` argument, if some visible array has that type.
    fn array3_arg(&mut self) -> Option<E> {
        let id = self.pick_where(|v| {
            matches!(v.kind, Kind::Arr { len: 3, cols: 0, form }
                if matches!(form, Form::ArrayParam | Form::ArrayRefParam | Form::LocalArray | Form::Returned))
        })?;
        let form = match self.vars[id].kind {
            Kind::Arr { form, .. } => form,
            _ => unreachable!(),
        };
        let a = self.read(id);
        Some(if form == Form::ArrayRefParam {
            a
        } else {
            E::same(format!("&{}", a.p), UNARY)
        })
    }

    /// A visible matrix with rows of 2 (`[[f64; 2]; N]` or `&[[f64; 2]]`), if any.
    fn pick_row_matrix(&mut self) -> Option<usize> {
        self.pick_where(|v| matches!(v.kind, Kind::Arr { cols: 2, form, .. } if form.whole()))
    }

    fn note_call(&mut self, kind: &str) {
        self.stats.construct(kind);
        if !self.loops.is_empty() {
            self.stats.construct("call: in loop");
        }
    }

    fn helper_call(&mut self, d: usize) -> E {
        let sub = d.saturating_sub(1);
        let structs = self.visible_where(|v| matches!(v.kind, Kind::Struct { .. }));
        if !structs.is_empty() && self.rng.chance(0.3) {
            let id = *self.rng.pick(&structs);
            let by_ref = matches!(self.vars[id].kind, Kind::Struct { by_ref: true });
            let s = self.read(id).p;
            let x = self.fexpr(sub).val();
            self.note_call("call: struct");
            return match self.rng.below(3) {
                0 => E::two(
                    format!("{s}.score({})", x.p),
                    format!("{s}.score({})", x.t),
                    ATOM,
                ),
                1 => {
                    let r = if by_ref { s } else { format!("&{s}") };
                    E::two(
                        format!("h_params({r}, {})", x.p),
                        format!("h_params({r}, {})", x.t),
                        ATOM,
                    )
                }
                _ => {
                    let field = *self.rng.pick(&["w", "v"]);
                    let (ap, at) = x.at(ATOM);
                    E::two(
                        format!("h_dot(&{s}.{field}, &[{ap}, 0.5])"),
                        format!("h_dot(&{s}.{field}, &[{at}, 0.5])"),
                        ATOM,
                    )
                }
            };
        }
        match self.rng.below(10) {
            0 | 1 => {
                self.note_call("call: scalar");
                let a = self.fexpr(sub).val();
                let b = self.fexpr(sub).val();
                call("h_mix", &[a, b])
            }
            2 => {
                if let Some((a, _)) = self.array_arg() {
                    let b = match self.array_arg() {
                        Some((b, _)) => b,
                        None => {
                            let x = self.fexpr(sub).val();
                            let y = self.fexpr(sub).val();
                            let (p, t) = join(&[x, y]);
                            E::two(format!("&[{p}]"), format!("&[{t}]"), UNARY)
                        }
                    };
                    self.note_call("call: scalar");
                    return call("h_dot", &[a, b]);
                }
                self.fexpr(sub)
            }
            3 => {
                self.note_call("call: scalar");
                let x = self.fexpr(sub).val();
                let (n, _) = self.small_int(3);
                call("h_pow", &[x, n])
            }
            4 => {
                self.note_call("call: with branch");
                let x = self.fexpr(sub).val();
                E::two(
                    format!("h_leaky({})", x.p),
                    format!("h_leaky_t(tr, {})", x.t),
                    ATOM,
                )
            }
            5 if self.rng.chance(0.4) && self.pick_row_matrix().is_some() => {
                // A row of a matrix passed by value: `h_norm2(m[i])`.
                let m = self.pick_row_matrix().expect("checked");
                let Kind::Arr { len, .. } = self.vars[m].kind.clone() else {
                    unreachable!()
                };
                let lt = self.len_text(m);
                let i = self.index(len, &lt);
                let name = self.read(m).p;
                self.note_call("call: row by value");
                E::two(
                    format!("h_norm2({name}[{}])", i.p),
                    format!("h_norm2({name}[{}])", i.t),
                    ATOM,
                )
            }
            5 => {
                self.note_call("call: scalar");
                let a = self.fexpr(sub).val();
                let b = self.fexpr(sub).val();
                let (ap, at) = join(&[a, b]);
                E::two(format!("h_norm2([{ap}])"), format!("h_norm2([{at}])"), ATOM)
            }
            6 => {
                if let Some((arr, _)) = self.array_arg() {
                    self.note_call("call: scalar");
                    let a = self.fexpr(sub).val();
                    return call("h_nested", &[a, arr]);
                }
                self.fexpr(sub)
            }
            7 => {
                self.note_call("call: tuple");
                let r = self.fexpr(sub).val();
                let t = self.fexpr(sub).val();
                let c = call("h_polar", &[r, t]);
                let k = self.rng.below(2);
                E::two(format!("{}.{k}", c.p), format!("{}.{k}", c.t), ATOM)
            }
            8 => {
                let arg = match self.array3_arg() {
                    Some(a) => a,
                    None => {
                        let a = self.fexpr(sub).val();
                        let b = self.fexpr(sub).val();
                        let c = self.fexpr(sub).val();
                        let (p, t) = join(&[a, b, c]);
                        E::two(format!("&[{p}]"), format!("&[{t}]"), UNARY)
                    }
                };
                self.note_call("call: array");
                let s = self.fexpr(sub).val();
                let c = call("h_scale3", &[arg, s]);
                let i = self.index(3, "3");
                E::two(
                    format!("{}[{}]", c.p, i.p),
                    format!("{}[{}]", c.t, i.t),
                    ATOM,
                )
            }
            _ => {
                if let Some((arr, len)) = self.array_arg_min(1) {
                    self.note_call("call: Vec");
                    let c = call("h_cumsum", &[arr]);
                    let i = self.index(len, &format!("{len}"));
                    return E::two(
                        format!("{}[{}]", c.p, i.p),
                        format!("{}[{}]", c.t, i.t),
                        ATOM,
                    );
                }
                self.fexpr(sub)
            }
        }
    }

    /// A small integer argument: a literal or an integer variable with a small range.
    fn small_int(&mut self, max: usize) -> (E, usize) {
        let ids = self.visible_where(|v| matches!(v.kind, Kind::Int { hi, .. } if hi <= max));
        if !ids.is_empty() && self.rng.chance(0.6) {
            let id = *self.rng.pick(&ids);
            let (_, hi) = self.int_val(id);
            return (self.read(id), hi);
        }
        let n = self.rng.range(0, max);
        (E::same(format!("{n}"), ATOM), n)
    }

    /// A condition; on data with probability `data`.
    fn cond(&mut self, data: f64) -> E {
        self.opaque += 1;
        let c = self.cond_inner(data, true);
        self.opaque -= 1;
        c
    }

    fn cond_inner(&mut self, data: f64, bools: bool) -> E {
        let flags = self.visible_where(|v| matches!(v.kind, Kind::Bool));
        if bools && !flags.is_empty() && self.rng.chance(0.25) {
            let b = *self.rng.pick(&flags);
            let flag = self.read(b);
            if self.rng.chance(0.5) {
                return flag;
            }
            let rest = self.cond_inner(data, false);
            let op = *self.rng.pick(&["&&", "||"]);
            return bin(&flag, op, &rest);
        }
        let ints = self.visible_where(|v| matches!(v.kind, Kind::Int { .. } | Kind::I32 { .. }));
        if ints.is_empty() || self.rng.chance(data) {
            self.stats.construct("if: on data");
            let a = self.fexpr(1).val();
            let op = *self.rng.pick(&["<", ">", "<=", ">="]);
            let mut b = if self.rng.chance(0.5) {
                self.literal()
            } else {
                self.fexpr(1).val()
            };
            if same_value(&a, &b) || (a.lit && b.lit) {
                // `b` read nothing that `a` did not (or only literals): no reads to undo.
                b = self.literal();
                if a.lit {
                    b = self.typed_leaf().val();
                }
            }
            let c = bin(&a, op, &b);
            if self.rng.chance(0.15) {
                let other = self.int_cond(&ints);
                let op = *self.rng.pick(&["&&", "||"]);
                if let Some(o) = other {
                    return bin(&c, op, &o);
                }
            }
            return c;
        }
        self.int_cond(&ints).expect("integers are visible")
    }

    fn int_cond(&mut self, ints: &[usize]) -> Option<E> {
        if ints.is_empty() {
            return None;
        }
        let id = *self.rng.pick(ints);
        let (lo, hi) = self.int_val(id);
        let i = self.read(id);
        Some(match self.rng.below(3) {
            0 => E::same(format!("{} % 2 == 0", i.p), CMP),
            1 => {
                let c = self.rng.range(lo.max(1), hi.max(1));
                E::same(format!("{} < {c}", i.p), CMP)
            }
            _ => {
                let c = self.rng.range(lo, hi.max(lo));
                E::same(format!("{} > {c}", i.p), CMP)
            }
        })
    }

    // Statements --------------------------------------------------------------------------

    fn floats_assignable(&self) -> Vec<usize> {
        self.visible_where(|v| v.assignable && matches!(v.kind, Kind::Float { .. }))
    }

    /// `n` statements of a branch: the first is not an `if` (clippy's `collapsible_if`).
    fn block(&mut self, n: usize) {
        for k in 0..n {
            self.stmt(k == 0);
        }
    }

    /// `n` statements of a loop body.
    fn loop_body(&mut self, n: usize) {
        for _ in 0..n {
            self.stmt(false);
        }
    }

    fn stmt(&mut self, first: bool) {
        self.budget = self.budget.saturating_sub(1);
        let nesting = self.scopes.len();
        // Functions stay short (the suite must compile quickly): past `MAX_LINES` lines, only
        // simple statements.
        let can_nest = self.budget > 0 && nesting < 5 && self.lines.len() < MAX_LINES;
        let in_loop = !self.loops.is_empty();
        loop {
            let weights = [
                12,                                     // 0 let
                10,                                     // 1 compound assignment
                6,                                      // 2 overwrite
                8,                                      // 3 store into an array
                5,                                      // 4 new array
                if can_nest && !first { 5 } else { 0 }, // 5 if
                4,                                      // 6 let = if
                if can_nest { 3 } else { 0 },           // 7 match
                if can_nest && self.loops.len() < 3 {
                    8
                } else {
                    0
                }, // 8 for over a range
                if can_nest && self.loops.len() < 3 {
                    4
                } else {
                    0
                }, // 9 for over elements
                if can_nest && self.loops.len() < 2 {
                    2
                } else {
                    0
                }, // 10 while
                if can_nest && self.loops.len() < 2 {
                    2
                } else {
                    0
                }, // 11 loop
                if first {
                    0
                } else if in_loop {
                    3
                } else {
                    1
                }, // 12 early return
                if in_loop && !first {
                    4 + 4 * (self.loops.len() > 1) as u32
                } else {
                    0
                }, // 13 break / continue
                3,                                      // 14 tuples
                2,                                      // 15 block
                2,                                      // 16 call returning an array
                if can_nest { 2 } else { 0 },           // 17 let without a value
                if can_nest && self.loops.len() < 2 {
                    3
                } else {
                    0
                }, // 18 recurrence loop
                if can_nest && self.loops.len() < 2 {
                    2
                } else {
                    0
                }, // 19 over a matrix's rows
            ];
            let done = match self.rng.weighted(&weights) {
                0 => self.let_float(),
                1 => self.compound(),
                2 => self.overwrite(),
                3 => self.store(),
                4 => self.new_array(),
                5 => self.if_stmt(),
                6 => self.let_if(),
                7 => self.match_stmt(),
                8 => self.for_range(),
                9 => self.for_iter(),
                10 => self.while_loop(),
                11 => self.loop_stmt(),
                12 => self.early_return(),
                13 => self.break_continue(),
                14 => self.tuples(),
                15 => self.block_let(),
                17 => self.let_uninit(),
                18 => self.recurrence(),
                19 => self.for_rows(),
                _ => self.call_array(),
            };
            if done {
                return;
            }
        }
    }

    /// `let NAME = E;`, a new name or shadowing a float of this or an outer scope.
    fn let_float(&mut self) -> bool {
        let shadow = self.pick_where(|v| matches!(v.kind, Kind::Float { by_ref: false }));
        let shadowed = match shadow {
            Some(id) if self.rng.chance(0.25) => Some(id),
            _ => None,
        };
        let mut e = self.fexpr(2).val();
        if let Some(old) = shadowed {
            let name = self.vars[old].name.clone();
            if e.p == name {
                // Not `let a = a;` (clippy's `redundant_locals`) nor `a - a`.
                e = bin(&e, "*", &lit(0.5));
            }
            if self.rng.chance(0.7) {
                let o = self.read(old);
                let op = *self.rng.pick(&["*", "+", "-"]);
                e = bin(&o, op, &e);
            }
            self.stats.construct("shadowing");
            if self.vars[old].depth == self.scopes.len() - 1 {
                self.consume(old);
            }
        }
        let name = match shadowed {
            Some(old) => self.vars[old].name.clone(),
            None => self.new_name(FLOAT_NAMES),
        };
        let id = self.new_var(&name, Kind::Float { by_ref: false }, true);
        self.let_line(id, &e);
        self.declare(id);
        true
    }

    fn let_line(&mut self, id: usize, e: &E) {
        self.stats.construct("let");
        let name = self.vars[id].name.clone();
        let m = Self::mut_mark(id);
        let ty = if e.lit || self.rng.chance(0.1) {
            self.stats.construct("let: annotated");
            ": f64"
        } else {
            ""
        };
        self.emit(
            format!("let {m}{name}{ty} = {};", e.p),
            format!("let {m}{name}{ty} = {};", e.t),
        );
    }

    fn compound(&mut self) -> bool {
        let targets = self.floats_assignable();
        if targets.is_empty() {
            return false;
        }
        let id = *self.rng.pick(&targets);
        let name = self.vars[id].name.clone();
        let op = *self.rng.pick(&["+=", "-=", "*=", "+=", "/=", "%="]);
        self.stats.construct("compound assignment");
        match op {
            "/=" | "%=" => {
                let x = self.typed(2).val();
                let b = self.positive(&x);
                if op == "/=" {
                    self.stats.rule("div");
                    self.emit(format!("{name} /= {};", b.p), format!("{name} /= {};", b.t));
                } else {
                    self.stats.rule("rem");
                    self.emit(
                        format!("{name} %= {};", b.p),
                        format!("{name} = tr.rem({name}, {});", b.t),
                    );
                }
            }
            "*=" => {
                // A factor in [-1, 1], so that products in loops do not overflow.
                let x = self.typed(2);
                let e = self.bounded(&x);
                self.stats.rule("mul");
                self.emit(format!("{name} *= {};", e.p), format!("{name} *= {};", e.t));
            }
            _ => {
                // Not `a += a + b` (clippy's `misrefactored_assign_op`) nor `a -= a`.
                let mut snap = self.snapshot();
                let mut e = self.fexpr(2);
                for _ in 0..4 {
                    let bad = match &e.bin {
                        Some((o, l, r)) => op.starts_with(o) && (*l == name || *r == name),
                        None => false,
                    } || (e.p == name && op == "-=");
                    if !bad {
                        break;
                    }
                    self.restore(&snap);
                    snap = self.snapshot();
                    e = self.fexpr(2);
                }
                if e.p == name && op == "-=" {
                    e = bin(&e, "*", &lit(0.5));
                }
                self.stats.rule(match op {
                    "+=" => "add",
                    "-=" => "sub",
                    _ => "mul",
                });
                self.emit(
                    format!("{name} {op} {};", e.p),
                    format!("{name} {op} {};", e.t),
                );
            }
        }
        // The compound operator reads the old value.
        self.read(id);
        self.write(id);
        true
    }

    fn overwrite(&mut self) -> bool {
        let targets = self.floats_assignable();
        if targets.is_empty() {
            return false;
        }
        let id = *self.rng.pick(&targets);
        let name = self.vars[id].name.clone();
        let pure = !self.vars[id].dirty && self.rng.chance(0.4);
        let e = if pure {
            let mut e = self.fexpr(2).val();
            if e.p == name {
                e = bin(&e, "*", &lit(0.5));
            }
            self.stats.construct("overwrite");
            e
        } else {
            self.stats.construct("overwrite: self-referencing");
            let old = self.read(id).val();
            match self.rng.below(4) {
                0 => {
                    let x = self.typed(1);
                    let other = self.bounded(&x);
                    self.stats.rule("mul");
                    bin(&old, "*", &other)
                }
                1 => {
                    self.stats.rule("mul");
                    self.stats.rule("add");
                    let x = self.fexpr(1);
                    bin(&bin(&old, "*", &lit(0.5)), "+", &x)
                }
                2 => {
                    let other = self.fexpr(1).val();
                    let m = self.bounded(&old);
                    self.stats.rule("add");
                    bin(&m, "+", &other)
                }
                _ => {
                    let h = self.typed(1).val();
                    self.note_call("call: scalar");
                    call("h_mix", &[old, h])
                }
            }
        };
        self.emit(format!("{name} = {};", e.p), format!("{name} = {};", e.t));
        self.write(id);
        true
    }

    fn writable_arrays(&self) -> Vec<usize> {
        self.visible_where(|v| v.assignable && matches!(v.kind, Kind::Arr { len, .. } if len > 0))
            .into_iter()
            .filter(|id| !self.borrowed.contains(id))
            .collect()
    }

    fn store(&mut self) -> bool {
        let arrays = self.writable_arrays();
        if arrays.is_empty() {
            return false;
        }
        let id = *self.rng.pick(&arrays);
        let Kind::Arr { len, cols, .. } = self.vars[id].kind.clone() else {
            unreachable!()
        };
        let name = self.vars[id].name.clone();
        // A recurrence `a[i] = a[i - 1] * e + e2` with the innermost loop index.
        if cols == 0 {
            let idx = self.visible_where(
                |v| matches!(v.kind, Kind::Int { lo, hi, .. } if lo >= 1 && hi < len),
            );
            if let Some(&i) = idx.first() {
                if self.rng.chance(0.5) {
                    let i = self.read(i).p;
                    self.read(id);
                    let x = self.typed(1);
                    let e = self.bounded(&x);
                    let e2 = self.fexpr(1);
                    let prev = E::same(format!("{name}[{i} - 1]"), ATOM);
                    let v = bin(&bin(&prev, "*", &e), "+", &e2);
                    self.stats.construct("array: recurrence");
                    self.stats.construct("array: store");
                    self.emit(
                        format!("{name}[{i}] = {};", v.p),
                        format!("{name}[{i}] = {};", v.t),
                    );
                    self.write(id);
                    return true;
                }
            }
        }
        // `v[i % v.len()] = ..` borrows a `Vec` twice: index it with a literal length.
        let is_vec = matches!(
            self.vars[id].kind,
            Kind::Arr {
                form: Form::LocalVec | Form::VecParam,
                ..
            }
        );
        let lt = if is_vec {
            format!("{len}")
        } else {
            self.len_text(id)
        };
        if is_vec {
            self.unreadable.push(id);
        }
        let i = self.index(len, &lt);
        let place_p;
        let place_t;
        if cols > 0 {
            let j = self.index(cols, &format!("{cols}"));
            place_p = format!("{name}[{}][{}]", i.p, j.p);
            place_t = format!("{name}[{}][{}]", i.t, j.t);
        } else {
            place_p = format!("{name}[{}]", i.p);
            place_t = format!("{name}[{}]", i.t);
        }
        self.unreadable.clear();
        let mut e = self.fexpr(2).val();
        if e.lit {
            let v = self.typed_leaf().val();
            e = bin(&e, "*", &v);
        }
        if e.prec == ATOM && e.p.ends_with(']') {
            // Not a plain copy of another element (clippy's `manual_memcpy`).
            e = bin(&e, "*", &lit(1.5));
        }
        let op = *self.rng.pick(&["=", "=", "+=", "*=", "-=", "/=", "%="]);
        if let Some((o, l, r)) = &e.bin {
            if op.starts_with(o) && (*l == place_p || *r == place_p) {
                // `a[i] *= a[i] * e` is clippy's `misrefactored_assign_op`.
                e = bin(&e, "+", &lit(0.5));
            }
        }
        if op == "=" {
            self.stats.construct("array: store");
        } else {
            self.stats.construct("array: compound store");
            self.read(id);
        }
        match op {
            "/=" | "%=" => {
                let b = self.positive(&e);
                self.stats.rule(if op == "/=" { "div" } else { "rem" });
                let t = if op == "/=" {
                    format!("{place_t} /= {};", b.t)
                } else {
                    format!("{place_t} = tr.rem({place_t}, {});", b.t)
                };
                self.emit(format!("{place_p} {op} {};", b.p), t);
            }
            "*=" => {
                let b = self.bounded(&e);
                self.emit(
                    format!("{place_p} *= {};", b.p),
                    format!("{place_t} *= {};", b.t),
                );
            }
            _ => self.emit(
                format!("{place_p} {op} {};", e.p),
                format!("{place_t} {op} {};", e.t),
            ),
        }
        self.write(id);
        true
    }

    fn new_array(&mut self) -> bool {
        let name = self.new_name(ARRAY_NAMES);
        let (init_p, init_t, len, cols, form) = match self.rng.below(7) {
            0 | 1 => {
                self.stats.construct("array: [0.0; N]");
                let n = self.rng.range(1, 5);
                if self.rng.chance(0.5) {
                    (format!("[0.0_f64; {n}]"), None, n, 0, Form::LocalArray)
                } else {
                    (
                        format!("[0.0; {n}]"),
                        Some(format!(": [f64; {n}]")),
                        n,
                        0,
                        Form::LocalArray,
                    )
                }
            }
            2 => {
                let Some(src) = self.pick_where(|v| {
                    matches!(v.kind, Kind::Arr { cols: 0, len, form } if form.whole() && len > 0)
                }) else {
                    return false;
                };
                let Kind::Arr { len, .. } = self.vars[src].kind.clone() else {
                    unreachable!()
                };
                self.stats.construct("array: vec![0.0; n]");
                // A constant length would make it clippy's `useless_vec`.
                let lt = format!("{}.len()", self.vars[src].name);
                self.read(src);
                if self.rng.chance(0.5) {
                    (format!("vec![0.0_f64; {lt}]"), None, len, 0, Form::LocalVec)
                } else {
                    (
                        format!("vec![0.0; {lt}]"),
                        Some(": Vec<f64>".to_owned()),
                        len,
                        0,
                        Form::LocalVec,
                    )
                }
            }
            3 => {
                let Some(src) = self.pick_where(|v| {
                    matches!(v.kind, Kind::Arr { cols: 0, len, form } if form.whole() && !form.returned() && len > 0)
                }) else {
                    return false;
                };
                let Kind::Arr { len, form, .. } = self.vars[src].kind.clone() else {
                    unreachable!()
                };
                let s = self.read(src).p;
                if matches!(form, Form::ArrayParam | Form::LocalArray) && self.rng.chance(0.5) {
                    self.stats.construct("array: copy");
                    (s, None, len, 0, Form::LocalArray)
                } else {
                    self.stats.construct("array: to_vec");
                    (format!("{s}.to_vec()"), None, len, 0, Form::LocalVec)
                }
            }
            4 => {
                self.stats.construct("array: literal");
                let n = self.rng.range(2, 4);
                let elems: Vec<E> = (0..n).map(|_| self.fexpr(1).val()).collect();
                let (p, t) = join(&elems);
                let lit_only = elems.iter().all(|e| e.lit);
                self.array_decl(
                    &name,
                    format!("[{p}]"),
                    format!("[{t}]"),
                    lit_only.then(|| format!(": [f64; {n}]")),
                    n,
                    0,
                    Form::LocalArray,
                );
                return true;
            }
            5 => {
                self.stats.construct("array: matrix");
                let (r, c) = (self.rng.range(1, 3), self.rng.range(1, 3));
                (
                    format!("[[0.0_f64; {c}]; {r}]"),
                    None,
                    r,
                    c,
                    Form::LocalMatrix,
                )
            }
            _ => {
                self.stats.construct("array: [0.0; N]");
                let n = self.rng.range(2, 4);
                (format!("[0.0_f64; {n}]"), None, n, 0, Form::LocalArray)
            }
        };
        let ty = init_t;
        self.array_decl(&name, init_p.clone(), init_p, ty, len, cols, form);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn array_decl(
        &mut self,
        name: &str,
        p: String,
        t: String,
        ty: Option<String>,
        len: usize,
        cols: usize,
        form: Form,
    ) {
        let id = self.new_var(name, Kind::Arr { len, cols, form }, true);
        let m = Self::mut_mark(id);
        let ty = ty.unwrap_or_default();
        self.emit(
            format!("let {m}{name}{ty} = {p};"),
            format!("let {m}{name}{ty} = {t};"),
        );
        self.declare(id);
    }

    /// A branch body: its own scope, `n` statements, the first not an `if`.
    fn branch(&mut self, n: usize) {
        self.indent += 1;
        self.push_scope();
        self.block(n);
        self.pop_scope();
        self.indent -= 1;
    }

    /// A branch of an `if` chain whose earlier branches are `bodies` (line ranges): one more
    /// statement if it came out the same as one of them (clippy's `if_same_then_else`).
    fn distinct_branch(&mut self, n: usize, bodies: &mut Vec<(usize, usize)>) {
        let start = self.lines.len();
        self.branch(n);
        let body = |g: &Self, (a, b): (usize, usize)| -> Vec<String> {
            g.lines[a..b].iter().map(|l| l.1.clone()).collect()
        };
        let mine = body(self, (start, self.lines.len()));
        if bodies.iter().any(|&r| body(self, r) == mine) {
            self.indent += 1;
            let acc = self.acc;
            self.emit_same("acc *= 0.5;");
            self.read(acc);
            self.write(acc);
            self.indent -= 1;
        }
        bodies.push((start, self.lines.len()));
    }

    fn if_stmt(&mut self) -> bool {
        self.stats.construct("if");
        let c = self.cond(0.6);
        self.emit(format!("if {} {{", c.p), format!("if tr.b({}) {{", c.t));
        let before = self.dirty_state();
        let n = self.rng.range(1, 3);
        let mut bodies = Vec::new();
        self.distinct_branch(n, &mut bodies);
        let mut states = vec![self.dirty_state()];
        let mut has_else = false;
        if self.rng.chance(0.3) {
            self.stats.construct("if: else if");
            self.set_dirty(&before);
            let snap = self.snapshot();
            let mut c2 = self.cond(0.6);
            if c2.p == c.p {
                // Not the same condition twice (clippy's `ifs_same_cond`).
                self.restore(&snap);
                c2 = bin(&self.typed_leaf().val(), "<", &lit(0.3));
            }
            let c = c2;
            self.emit(
                format!("}} else if {} {{", c.p),
                format!("}} else if tr.b({}) {{", c.t),
            );
            let n = self.rng.range(1, 2);
            self.distinct_branch(n, &mut bodies);
            states.push(self.dirty_state());
        }
        if self.rng.chance(0.5) {
            self.stats.construct("if: else");
            has_else = true;
            self.set_dirty(&before);
            self.emit_same("} else {");
            let n = self.rng.range(1, 2);
            self.distinct_branch(n, &mut bodies);
            states.push(self.dirty_state());
        }
        if !has_else {
            states.push(before);
        }
        self.emit_same("}");
        self.merge_dirty(&states);
        true
    }

    /// A block `{ stmts; tail }` whose value is `tail`, which reads what the block left unread.
    fn value_block(&mut self, n: usize) -> E {
        self.indent += 1;
        self.push_scope();
        self.block(n);
        let mut tail = self.fexpr(2).val();
        let ids = self.scopes.last().cloned().unwrap_or_default();
        let visible = self.visible();
        for id in ids {
            if visible.contains(&id) {
                if let Some(part) = self.consumption(id) {
                    tail = bin(&tail, "+", &part);
                }
            }
        }
        if is_ident(&tail.p) {
            // `let t = ..; t` is clippy's `let_and_return`.
            tail = bin(&tail, "*", &lit(0.9));
        }
        self.emit(tail.p.clone(), tail.t.clone());
        self.scopes.pop();
        self.indent -= 1;
        tail
    }

    fn let_if(&mut self) -> bool {
        self.stats.construct("let = if");
        let name = self.new_name(FLOAT_NAMES);
        let id = self.new_var(&name, Kind::Float { by_ref: false }, true);
        let m = Self::mut_mark(id);
        let c = self.cond(0.6);
        // The type is annotated: both branches may be literals.
        self.emit(
            format!("let {m}{name}: f64 = if {} {{", c.p),
            format!("let {m}{name}: f64 = if tr.b({}) {{", c.t),
        );
        let before = self.dirty_state();
        let n = self.rng.below(2);
        let first = self.value_block(n);
        let s1 = self.dirty_state();
        self.set_dirty(&before);
        self.emit_same("} else {");
        let n = self.rng.below(2);
        let second = self.value_block(n);
        if n == 0 && first.p == second.p {
            // Identical branches (clippy's `if_same_then_else`): make them differ.
            let last = self.lines.last_mut().expect("the tail");
            last.1 = format!("{} * 0.5", second.at(MUL + 1).0);
            last.2 = format!("{} * 0.5", second.at(MUL + 1).1);
        }
        let s2 = self.dirty_state();
        self.emit_same("};");
        self.merge_dirty(&[s1, s2]);
        self.declare(id);
        true
    }

    fn match_stmt(&mut self) -> bool {
        let Some(id) = self.pick_where(|v| matches!(v.kind, Kind::Int { .. } | Kind::I32 { .. }))
        else {
            return false;
        };
        self.stats.construct("match");
        let (_, hi) = self.int_val(id);
        let s = self.read(id).p;
        let scrutinee = if hi > 3 && self.rng.chance(0.5) {
            format!("{s} % 3")
        } else {
            s
        };
        let as_value = self.rng.chance(0.5);
        let target = if as_value {
            let name = self.new_name(FLOAT_NAMES);
            let v = self.new_var(&name, Kind::Float { by_ref: false }, true);
            let m = Self::mut_mark(v);
            self.stats.construct("let = match");
            self.emit_same(format!("let {m}{name}: f64 = match {scrutinee} {{"));
            Some(v)
        } else {
            self.emit_same(format!("match {scrutinee} {{"));
            None
        };
        // Arms: `0`, maybe `1 | 2`, maybe a guarded arm, and `_`.
        let mut arms: Vec<(String, String)> = vec![("0".to_owned(), "0".to_owned())];
        if self.rng.chance(0.5) {
            arms.push(("1 | 2".to_owned(), "1 | 2".to_owned()));
        }
        match self.rng.below(4) {
            0 => arms.push(("mm if mm > 3".to_owned(), "mm if mm > 3".to_owned())),
            1 => arms.push(("#data".to_owned(), String::new())),
            2 => {
                self.stats.construct("match: range pattern");
                arms.push(("3..=5".to_owned(), "3..=5".to_owned()));
            }
            _ => {}
        }
        arms.push(("_".to_owned(), "_".to_owned()));
        let before = self.dirty_state();
        let mut states = Vec::new();
        self.indent += 1;
        for (p, t) in arms {
            self.set_dirty(&before);
            if p == "#data" {
                // The guard reads variables like any condition: before the arm's body.
                self.stats.construct("match: guard on data");
                let c = self.cond(1.0);
                self.emit(
                    format!("_ if {} => {{", c.p),
                    format!("_ if tr.b({}) => {{", c.t),
                );
            } else {
                self.emit(format!("{p} => {{"), format!("{t} => {{"));
            }
            if as_value {
                let n = self.rng.below(2);
                self.value_block(n);
            } else {
                // Never an empty arm (clippy's `single_match`).
                let n = self.rng.range(1, 2);
                self.branch(n);
            }
            self.emit_same("}");
            states.push(self.dirty_state());
        }
        self.indent -= 1;
        self.emit_same(if as_value { "};" } else { "}" });
        self.merge_dirty(&states);
        if let Some(v) = target {
            self.declare(v);
        }
        true
    }

    /// Opens a loop body: scope, loop context; returns the dirty state before the loop.
    fn open_loop(&mut self, label: Option<(String, usize)>, valued: bool) -> Vec<bool> {
        self.loops.push(Loop {
            label,
            valued,
            outer_depth: self.scopes.len(),
        });
        self.indent += 1;
        self.push_scope();
        self.dirty_state()
    }

    fn close_loop(&mut self, before: Vec<bool>) {
        self.pop_scope();
        self.indent -= 1;
        self.loops.pop();
        self.emit_same("}");
        let after = self.dirty_state();
        self.merge_dirty(&[before, after]);
    }

    fn body_len(&mut self) -> usize {
        let max = if self.loops.len() >= 2 { 1 } else { 2 };
        self.rng.range(1, max)
    }

    /// Maybe a label for a new outermost loop, and the marker that writes it if used.
    fn label(&mut self) -> (Option<(String, usize)>, String) {
        if self.loops.is_empty() && self.rng.chance(0.5) {
            self.labels_used.push(false);
            let k = self.labels_used.len() - 1;
            (Some(("'outer".to_owned(), k)), format!("{MARK}L{k}{MARK}"))
        } else {
            (None, String::new())
        }
    }

    fn for_range(&mut self) -> bool {
        self.stats.construct("for: range");
        if !self.loops.is_empty() {
            self.stats.construct("for: nested");
        }
        let arrays = self
            .visible_where(|v| matches!(v.kind, Kind::Arr { cols: 0, form, .. } if form.whole()));
        let ints = self.visible_where(|v| matches!(v.kind, Kind::Int { .. }));
        let outer_index = self
            .visible_where(|v| matches!(v.kind, Kind::Int { .. }))
            .first()
            .copied()
            .filter(|_| !self.loops.is_empty());
        // (range text, lo, hi, typed, rev)
        let (range, lo, hi, typed) = match self.rng.below(9) {
            0 | 1 if !arrays.is_empty() => {
                let a = *self.rng.pick(&arrays);
                let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
                    unreachable!()
                };
                let lt = self.len_text(a);
                let start = if self.rng.chance(0.3) { 1 } else { 0 };
                if len <= start {
                    self.stats
                        .construct("for: range with 0 iterations possible");
                }
                let hi = len.saturating_sub(1).max(start);
                let typed = lt.ends_with("len()");
                (format!("{start}..{lt}"), start, hi, typed)
            }
            2 if !ints.is_empty() => {
                let k = *self.rng.pick(&ints);
                let (_, khi) = self.int_val(k);
                let typed = matches!(self.vars[k].kind, Kind::Int { typed: true, .. });
                let kname = self.read(k).p;
                self.stats
                    .construct("for: range with 0 iterations possible");
                (format!("0..{kname}"), 0, khi.saturating_sub(1), typed)
            }
            3 if !ints.is_empty() => {
                let k = *self.rng.pick(&ints);
                let (_, khi) = self.int_val(k);
                let typed = matches!(self.vars[k].kind, Kind::Int { typed: true, .. });
                let kname = self.read(k).p;
                self.stats.construct("for: inclusive");
                if self.rng.chance(0.5) {
                    self.stats.construct("for: rev");
                    (format!("(1..={kname}).rev()"), 1, khi.max(1), typed)
                } else {
                    (format!("1..={kname}"), 1, khi.max(1), typed)
                }
            }
            4 if outer_index.is_some() => {
                // Triangular: from or up to the enclosing loop's index.
                let k = outer_index.expect("checked");
                let (klo, khi) = self.int_val(k);
                let typed = matches!(self.vars[k].kind, Kind::Int { typed: true, .. });
                let kname = self.read(k).p;
                self.stats.construct("for: triangular");
                match self.rng.below(3) {
                    0 => (format!("0..{kname}"), 0, khi.saturating_sub(1), typed),
                    1 => {
                        self.stats.construct("for: rev");
                        self.stats.construct("for: inclusive");
                        (format!("(0..={kname}).rev()"), 0, khi, typed)
                    }
                    _ => {
                        let end = khi + self.rng.range(1, 2);
                        (format!("{kname}..{end}"), klo, end - 1, typed)
                    }
                }
            }
            5 if !arrays.is_empty() => {
                let a = *self.rng.pick(&arrays);
                let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
                    unreachable!()
                };
                let lt = self.len_text(a);
                self.stats.construct("for: rev");
                let typed = lt.ends_with("len()");
                (format!("(0..{lt}).rev()"), 0, len.saturating_sub(1), typed)
            }
            6 if !ints.is_empty() && !arrays.is_empty() => {
                // A bound computed from integers: `0..n.min(xs.len())`, `0..n + 1`.
                let k = *self.rng.pick(&ints);
                let (_, khi) = self.int_val(k);
                let typed = matches!(self.vars[k].kind, Kind::Int { typed: true, .. });
                let kname = self.read(k).p;
                self.stats.construct("for: computed bound");
                if typed && self.rng.chance(0.5) {
                    let a = *self.rng.pick(&arrays);
                    let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
                        unreachable!()
                    };
                    let lt = self.len_text(a);
                    (
                        format!("0..{kname}.min({lt})"),
                        0,
                        khi.min(len).saturating_sub(1),
                        true,
                    )
                } else {
                    (format!("0..{kname} + 1"), 0, khi, typed)
                }
            }
            _ => {
                let n = self.rng.range(1, 4);
                (format!("0..{n}"), 0, n - 1, false)
            }
        };
        let (label, l) = self.label();
        let iname = self.new_name(INDEX_NAMES);
        let id = self.new_var(&iname, Kind::Int { lo, hi, typed }, false);
        let mark = Self::name_mark(id);
        self.emit_same(format!("{l}for {mark} in {range} {{"));
        let before = self.open_loop(label, false);
        self.declare(id);
        let n = self.body_len();
        self.loop_body(n);
        self.close_loop(before);
        true
    }

    fn for_iter(&mut self) -> bool {
        let Some(a) =
            self.pick_where(|v| matches!(v.kind, Kind::Arr { cols: 0, form, .. } if form.whole()))
        else {
            return false;
        };
        let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
            unreachable!()
        };
        self.stats.construct("for: iter");
        let aname = self.read(a).p;
        if matches!(self.vars[a].kind, Kind::Arr { form, .. } if form.returned()) {
            self.stats.construct("call: result passed on or iterated");
        }
        let (label, l) = self.label();
        let borrowed = self.borrowed.len();
        let vname = self.new_name(FLOAT_NAMES);
        let by_value = self.rng.chance(0.5);
        if by_value {
            self.stats.construct("for: iter by value");
        }
        let v = self.new_var(&vname, Kind::Float { by_ref: !by_value }, false);
        let elem_mark = |id: usize| {
            if by_value {
                format!("{MARK}R{id}{MARK}")
            } else {
                Self::name_mark(id)
            }
        };
        let vm = elem_mark(v);
        let mut declared = vec![v];
        let (pat, iter) = match self.rng.below(4) {
            0 => {
                self.stats.construct("for: enumerate");
                let iname = self.new_name(INDEX_NAMES);
                let i = self.new_var(
                    &iname,
                    Kind::Int {
                        lo: 0,
                        hi: len.saturating_sub(1),
                        typed: true,
                    },
                    false,
                );
                declared.push(i);
                // An index the body does not read drops `.enumerate()` (clippy's
                // `unused_enumerate_index`).
                (
                    format!("{MARK}O{i}{MARK}{vm}{MARK}C{i}{MARK}"),
                    format!("{aname}.iter(){MARK}I{i}{MARK}"),
                )
            }
            1 => {
                let other = self.pick_where(
                    |v| matches!(v.kind, Kind::Arr { cols: 0, form, .. } if form.whole()),
                );
                match other {
                    Some(b) if b != a => {
                        self.stats.construct("for: zip");
                        let bname = self.read(b).p;
                        let wname = self.new_name(FLOAT_NAMES);
                        let w = self.new_var(&wname, Kind::Float { by_ref: !by_value }, false);
                        declared.push(w);
                        let wm = elem_mark(w);
                        self.borrowed.push(b);
                        (
                            format!("({vm}, {wm})"),
                            format!("{aname}.iter().zip({bname}.iter())"),
                        )
                    }
                    _ => (vm, format!("{aname}.iter()")),
                }
            }
            2 => {
                // `for v in &a` (arrays and vectors), `for v in a` (arrays, which are `Copy`).
                let form = match self.vars[a].kind {
                    Kind::Arr { form, .. } => form,
                    _ => unreachable!(),
                };
                match form {
                    Form::ArrayParam | Form::LocalArray if by_value => {
                        self.stats.construct("for: in array");
                        self.vars[v].kind = Kind::Float { by_ref: false };
                        (Self::name_mark(v), aname.clone())
                    }
                    Form::ArrayParam | Form::LocalArray | Form::LocalVec | Form::VecParam => {
                        self.stats.construct("for: in array");
                        (vm, format!("&{aname}"))
                    }
                    _ => (vm, format!("{aname}.iter()")),
                }
            }
            _ => (vm, format!("{aname}.iter()")),
        };
        self.emit_same(format!("{l}for {pat} in {iter} {{"));
        self.borrowed.push(a);
        let before = self.open_loop(label, false);
        for id in declared {
            self.declare(id);
        }
        let n = self.body_len();
        self.loop_body(n);
        self.close_loop(before);
        self.borrowed.truncate(borrowed);
        true
    }

    /// A bound for a counter: an integer variable, an array length or a literal.
    fn counter_bound(&mut self) -> (String, usize) {
        let ints = self.visible_where(|v| matches!(v.kind, Kind::Int { typed: true, .. }));
        if !ints.is_empty() && self.rng.chance(0.4) {
            let k = *self.rng.pick(&ints);
            let (_, hi) = self.int_val(k);
            if hi <= 5 {
                return (self.read(k).p, hi);
            }
        }
        let arrays = self
            .visible_where(|v| matches!(v.kind, Kind::Arr { cols: 0, form, .. } if form.whole()));
        if !arrays.is_empty() && self.rng.chance(0.5) {
            let a = *self.rng.pick(&arrays);
            let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
                unreachable!()
            };
            return (self.len_text(a), len);
        }
        let n = self.rng.range(1, 4);
        (format!("{n}"), n)
    }

    fn counter(&mut self) -> usize {
        let name = self.new_name(COUNTER_NAMES);
        let id = self.new_var(
            &name,
            Kind::Int {
                lo: 0,
                hi: 0,
                typed: true,
            },
            false,
        );
        self.emit_same(format!("let mut {name}: usize = 0;"));
        self.declare(id);
        self.vars[id].read = true;
        id
    }

    fn while_loop(&mut self) -> bool {
        self.stats.construct("while");
        let (bound, hi) = self.counter_bound();
        let k = self.counter();
        let kname = self.vars[k].name.clone();
        let (label, l) = self.label();
        // In the condition, after `cnt < bound &&`, the counter is below the bound.
        self.vars[k].kind = Kind::Int {
            lo: 0,
            hi: hi.saturating_sub(1),
            typed: true,
        };
        if self.rng.chance(0.4) {
            self.stats.construct("while: on data");
            // Not the counter again (clippy's `overly_complex_bool_expr` on `k < n && (.. || k < n)`).
            self.unreadable.push(k);
            let c = self.cond(1.0);
            self.unreadable.clear();
            let (cp, ct) = c.at(AND + 1);
            self.emit(
                format!("{l}while {kname} < {bound} && {cp} {{"),
                format!("{l}while tr.b({kname} < {bound} && {ct}) {{"),
            );
        } else {
            self.emit(
                format!("{l}while {kname} < {bound} {{"),
                format!("{l}while tr.b({kname} < {bound}) {{"),
            );
        }
        let before = self.open_loop(label, false);
        self.emit_same(format!("{kname} += 1;"));
        // Inside the body the counter is in 1..=bound.
        self.vars[k].kind = Kind::Int {
            lo: 1,
            hi: hi.max(1),
            typed: true,
        };
        let n = self.body_len();
        self.loop_body(n);
        self.close_loop(before);
        self.vars[k].kind = Kind::Int {
            lo: 0,
            hi,
            typed: true,
        };
        true
    }

    fn loop_stmt(&mut self) -> bool {
        let (bound, hi) = self.counter_bound();
        let k = self.counter();
        let kname = self.vars[k].name.clone();
        let (label, l) = self.label();
        let with_value = self.rng.chance(0.4);
        let target = if with_value {
            self.stats.construct("loop: break with value");
            let name = self.new_name(FLOAT_NAMES);
            let id = self.new_var(&name, Kind::Float { by_ref: false }, true);
            let m = Self::mut_mark(id);
            self.emit_same(format!("let {m}{name}: f64 = {l}loop {{"));
            Some(id)
        } else {
            self.stats.construct("loop: break");
            self.emit_same(format!("{l}loop {{"));
            None
        };
        let before = self.open_loop(label, target.is_some());
        self.emit_same(format!("{kname} += 1;"));
        self.emit(
            format!("if {kname} > {bound} {{"),
            format!("if tr.b({kname} > {bound}) {{"),
        );
        self.indent += 1;
        match target {
            Some(_) => {
                // Here the counter is one past the bound.
                self.vars[k].kind = Kind::Int {
                    lo: hi + 1,
                    hi: hi + 1,
                    typed: true,
                };
                let e = self.fexpr(2).val();
                self.emit(format!("break {};", e.p), format!("break {};", e.t));
            }
            None => self.emit_same("break;"),
        }
        self.indent -= 1;
        self.emit_same("}");
        self.vars[k].kind = Kind::Int {
            lo: 1,
            hi: hi.max(1),
            typed: true,
        };
        let n = self.body_len();
        self.loop_body(n);
        self.pop_scope();
        self.indent -= 1;
        self.loops.pop();
        self.emit_same(if target.is_some() { "};" } else { "}" });
        let after = self.dirty_state();
        self.merge_dirty(&[before, after]);
        self.vars[k].kind = Kind::Int {
            lo: 0,
            hi: hi + 1,
            typed: true,
        };
        if let Some(id) = target {
            self.declare(id);
        }
        true
    }

    fn early_return(&mut self) -> bool {
        if self.loops.is_empty() {
            // At the top level only once the function has done something.
            if self.lines.len() < 3 {
                return false;
            }
            self.stats.construct("early return");
        } else {
            self.stats.construct("early return in loop");
        }
        let c = self.cond(0.7);
        self.emit(format!("if {} {{", c.p), format!("if tr.b({}) {{", c.t));
        self.indent += 1;
        let e = self.fexpr(2).val();
        self.emit(format!("return {};", e.p), format!("return {};", e.t));
        self.indent -= 1;
        self.emit_same("}");
        true
    }

    fn break_continue(&mut self) -> bool {
        let Some(depth) = self.loops.len().checked_sub(1) else {
            return false;
        };
        // The target: the innermost loop, or a labelled outer one.
        let target = if self.rng.chance(0.6) {
            self.loops
                .iter()
                .position(|l| l.label.is_some())
                .unwrap_or(depth)
        } else {
            depth
        };
        let label = self.loops[target].label.clone().filter(|_| target != depth);
        if let Some((_, k)) = &label {
            self.labels_used[*k] = true;
        }
        let label = label.map(|(l, _)| l);
        let outer_depth = self.loops[target].outer_depth;
        let is_break = !self.loops[target].valued && self.rng.chance(0.5);
        // A `loop` whose value is given by `break e` has no plain `break`; those bodies only
        // `continue`. Plain `while`, `for` and `loop` accept both.
        let word = if is_break { "break" } else { "continue" };
        let c = self.cond(0.6);
        self.stats.construct(if is_break {
            if label.is_some() {
                "labelled break"
            } else {
                "break on data"
            }
        } else if label.is_some() {
            "labelled continue"
        } else {
            "continue"
        });
        self.emit(format!("if {} {{", c.p), format!("if tr.b({}) {{", c.t));
        self.indent += 1;
        let before = self.dirty_state();
        // Maybe update a variable that outlives the loop before leaving the iteration.
        let outer: Vec<usize> = self
            .floats_assignable()
            .into_iter()
            .filter(|&id| self.vars[id].depth < outer_depth)
            .collect();
        if !outer.is_empty() && self.rng.chance(0.5) {
            let id = *self.rng.pick(&outer);
            let name = self.vars[id].name.clone();
            let mut e = self.fexpr(1);
            if e.bin
                .as_ref()
                .is_some_and(|(o, l, r)| *o == "+" && (*l == name || *r == name))
                || e.p == name
            {
                e = bin(&e, "*", &lit(0.5));
            }
            self.emit(format!("{name} += {};", e.p), format!("{name} += {};", e.t));
            self.read(id);
            self.write(id);
        }
        let l = label.map(|l| format!(" {l}")).unwrap_or_default();
        self.emit_same(format!("{word}{l};"));
        self.indent -= 1;
        self.emit_same("}");
        let after = self.dirty_state();
        self.merge_dirty(&[before, after]);
        true
    }

    fn tuples(&mut self) -> bool {
        match self.rng.below(4) {
            0 => {
                // let (a, b) = (e1, e2);   or   = h_polar(e1, e2);
                let e1 = self.fexpr(1).val();
                let e2 = self.fexpr(1).val();
                let ty = if e1.lit || e2.lit { ": (f64, f64)" } else { "" };
                let (rhs_p, rhs_t) = if self.rng.chance(0.4) {
                    self.note_call("call: tuple");
                    let c = call("h_polar", &[e1, e2]);
                    (c.p, c.t)
                } else {
                    let (p, t) = join(&[e1, e2]);
                    (format!("({p})"), format!("({t})"))
                };
                self.stats.construct("tuple let");
                let n1 = self.new_name(FLOAT_NAMES);
                let a = self.new_var(&n1, Kind::Float { by_ref: false }, true);
                let mut n2 = self.new_name(FLOAT_NAMES);
                if n2 == n1 {
                    n2 = format!("{n1}2");
                }
                let b = self.new_var(&n2, Kind::Float { by_ref: false }, true);
                let (ma, mb) = (Self::mut_mark(a), Self::mut_mark(b));
                self.emit(
                    format!("let ({ma}{n1}, {mb}{n2}){ty} = {rhs_p};"),
                    format!("let ({ma}{n1}, {mb}{n2}){ty} = {rhs_t};"),
                );
                self.declare(a);
                self.declare(b);
                true
            }
            1 => {
                // let t = (e1, e2);
                let e1 = self.fexpr(1).val();
                let e2 = self.fexpr(1).val();
                let (p, t) = join(&[e1.clone(), e2.clone()]);
                let name = self.new_name(&["pair", "tup", "pt"]);
                let id = self.new_var(&name, Kind::Pair, false);
                let ty = if e1.lit || e2.lit { ": (f64, f64)" } else { "" };
                self.stats.construct("tuple let");
                self.emit(
                    format!("let {name}{ty} = ({p});"),
                    format!("let {name}{ty} = ({t});"),
                );
                self.declare(id);
                true
            }
            2 => {
                // (a, b) = (b, a * e);
                let targets = self.floats_assignable();
                if targets.len() < 2 {
                    return false;
                }
                let a = targets[0];
                let b = targets[1];
                let ea = self.read(a);
                let eb = self.read(b);
                let e = self.fexpr(1);
                self.stats.rule("mul");
                let scaled = bin(&ea, "*", &e);
                self.stats.construct("tuple swap");
                self.emit(
                    format!("({}, {}) = ({}, {});", ea.p, eb.p, eb.p, scaled.p),
                    format!("({}, {}) = ({}, {});", ea.t, eb.t, eb.t, scaled.t),
                );
                self.write(a);
                self.write(b);
                true
            }
            _ => {
                // let t = h_polar(e1, e2); then t.0, t.1 as reads.
                let e1 = self.fexpr(1).val();
                let e2 = self.fexpr(1).val();
                self.note_call("call: tuple");
                let c = call("h_polar", &[e1, e2]);
                let name = self.new_name(&["pair", "tup", "pt"]);
                let id = self.new_var(&name, Kind::Pair, false);
                self.stats.construct("tuple let");
                self.emit(
                    format!("let {name} = {};", c.p),
                    format!("let {name} = {};", c.t),
                );
                self.declare(id);
                true
            }
        }
    }

    /// `for i in 1..a.len() { a[i] = a[i - 1] * e + e2; .. }`: each element overwritten from the
    /// one before, the values the backward sweep needs kept on a tape.
    fn recurrence(&mut self) -> bool {
        let arrays: Vec<usize> = self
            .writable_arrays()
            .into_iter()
            .filter(|&id| matches!(self.vars[id].kind, Kind::Arr { len, cols: 0, .. } if len >= 2))
            .collect();
        if arrays.is_empty() {
            return false;
        }
        let a = *self.rng.pick(&arrays);
        let Kind::Arr { len, .. } = self.vars[a].kind.clone() else {
            unreachable!()
        };
        let name = self.read(a).p;
        let lt = if self.rng.chance(0.5) {
            format!("{name}.len()")
        } else {
            format!("{len}")
        };
        let iname = self.new_name(INDEX_NAMES);
        let i = self.new_var(
            &iname,
            Kind::Int {
                lo: 1,
                hi: len - 1,
                typed: lt.ends_with("len()"),
            },
            false,
        );
        let (label, l) = self.label();
        self.emit_same(format!("{l}for {iname} in 1..{lt} {{"));
        let before = self.open_loop(label, false);
        self.declare(i);
        self.vars[i].read = true;
        let x = self.typed(1);
        let e = self.bounded(&x);
        let e2 = self.fexpr(1);
        let prev = E::same(format!("{name}[{iname} - 1]"), ATOM);
        let v = if self.rng.chance(0.5) {
            bin(&bin(&prev, "*", &e), "+", &e2)
        } else {
            let m = self.bounded(&prev);
            bin(&m, "+", &bin(&e, "*", &e2))
        };
        self.stats.construct("array: recurrence");
        self.emit(
            format!("{name}[{iname}] = {};", v.p),
            format!("{name}[{iname}] = {};", v.t),
        );
        self.write(a);
        if self.rng.chance(0.5) {
            let n = self.body_len();
            self.loop_body(n);
        }
        self.close_loop(before);
        true
    }

    /// `for row in m.iter() { .. row[j] .. }` over the rows of a matrix.
    fn for_rows(&mut self) -> bool {
        let Some(m) = self.pick_where(
            |v| matches!(v.kind, Kind::Arr { cols, form, .. } if cols > 0 && form.whole()),
        ) else {
            return false;
        };
        let Kind::Arr { len, cols, .. } = self.vars[m].kind.clone() else {
            unreachable!()
        };
        self.stats.construct("for: rows");
        let mname = self.read(m).p;
        let borrowed = self.borrowed.len();
        let rname = self.new_name(&["row", "line"]);
        let row = self.new_var(
            &rname,
            Kind::Arr {
                len: cols,
                cols: 0,
                form: Form::Row,
            },
            false,
        );
        let mut declared = vec![row];
        let (pat, iter) = if self.rng.chance(0.5) {
            let iname = self.new_name(INDEX_NAMES);
            let i = self.new_var(
                &iname,
                Kind::Int {
                    lo: 0,
                    hi: len - 1,
                    typed: true,
                },
                false,
            );
            declared.push(i);
            (
                format!("{MARK}O{i}{MARK}{}{MARK}C{i}{MARK}", Self::name_mark(row)),
                format!("{mname}.iter(){MARK}I{i}{MARK}"),
            )
        } else {
            (Self::name_mark(row), format!("{mname}.iter()"))
        };
        let (label, l) = self.label();
        self.emit_same(format!("{l}for {pat} in {iter} {{"));
        self.borrowed.push(m);
        let before = self.open_loop(label, false);
        for id in declared {
            self.declare(id);
        }
        // Read the row at least once: an element, or the whole row passed by value.
        let r = self.read(row);
        let e = self.fexpr(1);
        let elem = if cols == 2 && self.rng.chance(0.5) {
            self.note_call("call: row by value");
            E::same(format!("h_norm2(*{})", r.p), ATOM)
        } else {
            let j = self.index(cols, &format!("{cols}"));
            E::two(
                format!("{}[{}]", r.p, j.p),
                format!("{}[{}]", r.t, j.t),
                ATOM,
            )
        };
        let v = bin(&elem, "*", &e);
        self.emit(format!("acc += {};", v.p), format!("acc += {};", v.t));
        let acc = self.acc;
        self.read(acc);
        self.write(acc);
        let n = self.body_len();
        self.loop_body(n.saturating_sub(1));
        self.close_loop(before);
        self.borrowed.truncate(borrowed);
        true
    }

    /// `let v: f64;` given its value in both branches of an `if`.
    fn let_uninit(&mut self) -> bool {
        self.stats.construct("let: uninitialized");
        // A name no statement of the branches can shadow.
        self.fresh += 1;
        let name = format!("late{}", self.fresh);
        let id = self.new_var(&name, Kind::Float { by_ref: false }, true);
        let m = Self::mut_mark(id);
        self.emit_same(format!("let {m}{name}: f64;"));
        let c = self.cond(0.7);
        self.emit(format!("if {} {{", c.p), format!("if tr.b({}) {{", c.t));
        let before = self.dirty_state();
        let mut states = Vec::new();
        for branch in 0..2 {
            if branch == 1 {
                self.set_dirty(&before);
                self.emit_same("} else {");
            }
            self.indent += 1;
            self.push_scope();
            let n = self.rng.below(2);
            self.block(n);
            let e = self.fexpr(2).val();
            self.emit(format!("{name} = {};", e.p), format!("{name} = {};", e.t));
            self.pop_scope();
            self.indent -= 1;
            states.push(self.dirty_state());
        }
        self.emit_same("}");
        self.merge_dirty(&states);
        self.declare(id);
        self.vars[id].dirty = true;
        true
    }

    fn block_let(&mut self) -> bool {
        self.stats.construct("block");
        let name = self.new_name(FLOAT_NAMES);
        let id = self.new_var(&name, Kind::Float { by_ref: false }, true);
        let m = Self::mut_mark(id);
        self.emit_same(format!("let {m}{name}: f64 = {{"));
        let n = self.rng.range(1, 2);
        self.value_block(n);
        self.emit_same("};");
        self.declare(id);
        true
    }

    fn call_array(&mut self) -> bool {
        let name = self.new_name(&["out", "res", "cum"]);
        if self.rng.chance(0.5) {
            let arg = match self.array3_arg() {
                Some(a) => a,
                None => return false,
            };
            let s = self.fexpr(1).val();
            self.note_call("call: array");
            let c = call("h_scale3", &[arg, s]);
            let id = self.new_var(
                &name,
                Kind::Arr {
                    len: 3,
                    cols: 0,
                    form: Form::Returned,
                },
                false,
            );
            self.emit(
                format!("let {name} = {};", c.p),
                format!("let {name} = {};", c.t),
            );
            self.declare(id);
        } else {
            let Some((arg, len)) = self.array_arg() else {
                return false;
            };
            self.note_call("call: Vec");
            let c = call("h_cumsum", &[arg]);
            let id = self.new_var(
                &name,
                Kind::Arr {
                    len,
                    cols: 0,
                    form: Form::ReturnedVec,
                },
                false,
            );
            self.emit(
                format!("let {name} = {};", c.p),
                format!("let {name} = {};", c.t),
            );
            self.declare(id);
        }
        true
    }
}

/// A generated function: its source (plain and traced twin) and how the harness calls it.
struct Function {
    name: String,
    attr: String,
    params: Vec<Param>,
    plain: Vec<String>,
    traced: Vec<String>,
    ints: Vec<Vec<usize>>,
}

fn param_list(params: &[Param], marks: &dyn Fn(&Param) -> String) -> String {
    params
        .iter()
        .map(|p| {
            let ty = match &p.ty {
                ParamTy::F64 => "f64".to_owned(),
                ParamTy::Slice(_) => "&[f64]".to_owned(),
                ParamTy::Vec(_) => "Vec<f64>".to_owned(),
                ParamTy::Array(n) => format!("[f64; {n}]"),
                ParamTy::ArrayRef(n) => format!("&[f64; {n}]"),
                ParamTy::Matrix(r, c) => format!("&[[f64; {c}]; {r}]"),
                ParamTy::Rows(_) => "&[[f64; 2]]".to_owned(),
                ParamTy::Usize(_) => "usize".to_owned(),
                ParamTy::I32(_) => "i32".to_owned(),
                ParamTy::Bool => "bool".to_owned(),
                ParamTy::Struct(true) => "&Params".to_owned(),
                ParamTy::Struct(false) => "Params".to_owned(),
            };
            format!("{}{}: {ty}", marks(p), p.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn gen_params(rng: &mut Rng, stats: &mut Stats) -> Vec<Param> {
    let n = rng.range(1, 4);
    let mut params: Vec<Param> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for k in 0..n {
        let r = rng.below(100);
        // The first parameter is a float-like one.
        let r = if k == 0 { r % 85 } else { r };
        let (pool, ty): (&[&str], ParamTy) = match r {
            0..=34 => (&["a", "b", "c", "x", "y"], ParamTy::F64),
            35..=52 => (&["xs", "ws", "vals"], ParamTy::Slice(rng.range(1, 5))),
            53..=59 => (&["vs", "hs"], ParamTy::Vec(rng.range(1, 4))),
            60..=69 => (&["arr", "zs"], ParamTy::Array(rng.range(1, 4))),
            70..=76 => (&["ar", "ts"], ParamTy::ArrayRef(rng.range(1, 4))),
            77..=81 => (
                &["mat", "grid"],
                ParamTy::Matrix(rng.range(1, 3), rng.range(1, 3)),
            ),
            82..=84 => (&["pts", "rows"], ParamTy::Rows(rng.range(1, 3))),
            85..=92 => (INT_NAMES, ParamTy::Usize(rng.range(1, 5))),
            93..=95 => (&["e", "pw"], ParamTy::I32(rng.range(1, 4))),
            96..=97 => (&["flag", "on"], ParamTy::Bool),
            _ => (&["sp", "prm"], ParamTy::Struct(rng.chance(0.5))),
        };
        let mut name = rng.pick(pool).to_string();
        if used.contains(&name) {
            name = format!("{name}{k}");
        }
        used.push(name.clone());
        let mutable = match ty {
            ParamTy::F64 | ParamTy::Array(_) | ParamTy::Vec(_) => rng.chance(0.15),
            _ => false,
        };
        stats.construct(match (&ty, mutable) {
            (ParamTy::F64, false) => "param: f64",
            (ParamTy::F64, true) => "param: mut f64",
            (ParamTy::Slice(_), _) => "param: &[f64]",
            (ParamTy::Vec(_), _) => "param: Vec<f64>",
            (ParamTy::Array(_), false) => "param: [f64; N]",
            (ParamTy::Array(_), true) => "param: mut [f64; N]",
            (ParamTy::ArrayRef(_), _) => "param: &[f64; N]",
            (ParamTy::Matrix(..), _) => "param: &[[f64; M]; N]",
            (ParamTy::Rows(_), _) => "param: &[[f64; 2]]",
            (ParamTy::Usize(_), _) => "param: usize",
            (ParamTy::I32(_), _) => "param: i32",
            (ParamTy::Bool, _) => "param: bool",
            (ParamTy::Struct(true), _) => "param: &Params",
            (ParamTy::Struct(false), _) => "param: Params",
        });
        params.push(Param {
            name,
            ty,
            mutable,
            active: true,
        });
    }
    // `wrt` a subset of the float-like parameters, sometimes.
    let floats: Vec<usize> = (0..params.len())
        .filter(|&i| !params[i].ty.integer())
        .collect();
    if floats.len() >= 2 && rng.chance(0.25) {
        stats.construct("wrt");
        for &i in &floats {
            params[i].active = rng.chance(0.5);
        }
        if !floats.iter().any(|&i| params[i].active) {
            params[floats[0]].active = true;
        }
        if floats.iter().all(|&i| params[i].active) {
            params[floats[floats.len() - 1]].active = false;
        }
    }
    params
}

fn gen_function(index: usize, stats: &mut Stats) -> Function {
    let name = format!("f{index:04}");
    let mut rng = Rng::new(SEED ^ hash_str(&name));
    let params = gen_params(&mut rng, stats);
    let budget = rng.range(4, 9);
    let mut g = FnGen {
        rng,
        stats,
        vars: Vec::new(),
        scopes: vec![Vec::new()],
        loops: Vec::new(),
        lines: Vec::new(),
        indent: 1,
        acc: 0,
        borrowed: Vec::new(),
        fresh: 0,
        labels_used: Vec::new(),
        opaque: 0,
        unreadable: Vec::new(),
        budget,
    };
    let mut param_ids = Vec::new();
    for p in &params {
        let kind = match p.ty {
            ParamTy::F64 => Kind::Float { by_ref: false },
            ParamTy::Slice(n) => Kind::Arr {
                len: n,
                cols: 0,
                form: Form::SliceParam,
            },
            ParamTy::Vec(n) => Kind::Arr {
                len: n,
                cols: 0,
                form: Form::VecParam,
            },
            ParamTy::Array(n) => Kind::Arr {
                len: n,
                cols: 0,
                form: Form::ArrayParam,
            },
            ParamTy::ArrayRef(n) => Kind::Arr {
                len: n,
                cols: 0,
                form: Form::ArrayRefParam,
            },
            ParamTy::Rows(r) => Kind::Arr {
                len: r,
                cols: 2,
                form: Form::RowsParam,
            },
            ParamTy::Matrix(r, c) => Kind::Arr {
                len: r,
                cols: c,
                form: Form::MatrixParam,
            },
            ParamTy::Usize(max) => Kind::Int {
                lo: 0,
                hi: max,
                typed: true,
            },
            ParamTy::I32(max) => Kind::I32 { hi: max },
            ParamTy::Bool => Kind::Bool,
            ParamTy::Struct(by_ref) => Kind::Struct { by_ref },
        };
        let id = g.new_var(&p.name, kind, p.mutable);
        g.declare(id);
        param_ids.push(id);
    }
    // The accumulator that collects otherwise-unread locals.
    let acc = g.new_var("acc", Kind::Float { by_ref: false }, true);
    g.acc = acc;
    g.declare(acc);
    let m = FnGen::mut_mark(acc);
    g.emit_same(format!("{MARK}D{acc}{MARK}let {m}acc: f64 = 0.0;"));
    while g.budget > 0 && g.lines.len() < MAX_LINES {
        g.stmt(false);
    }
    // The tail: an expression, plus every top-level local and parameter left unread.
    let mut tail = g.fexpr(2).val();
    let ids = g.scopes[0].clone();
    let visible = g.visible();
    for id in ids {
        if id == acc || !visible.contains(&id) {
            continue;
        }
        if let Some(part) = g.consumption(id) {
            let part = if matches!(
                g.vars[id].kind,
                Kind::Int { .. } | Kind::I32 { .. } | Kind::Bool
            ) {
                bin(&part, "*", &lit(0.5))
            } else {
                part
            };
            tail = bin(&tail, "+", &part);
        }
    }
    if g.vars[acc].written {
        let a = g.read(acc);
        tail = bin(&tail, "+", &a);
    }
    if is_ident(&tail.p) {
        tail = bin(&tail, "*", &lit(0.9));
    }
    g.emit(tail.p.clone(), tail.t.clone());

    // Patch the markers now that reads and writes are known.
    let vars = g.vars.clone();
    let labels_used = g.labels_used.clone();
    let patch = |s: &str| -> Option<String> {
        let mut out = String::new();
        let mut parts = s.split(MARK);
        out.push_str(parts.next().unwrap_or(""));
        let mut keep = true;
        while let Some(mark) = parts.next() {
            let (kind, id) = mark.split_at(1);
            let id: usize = id.parse().expect("a marker's id");
            match kind {
                "M" => {
                    if vars[id].written {
                        out.push_str("mut ");
                    }
                }
                "N" => {
                    if vars[id].read {
                        out.push_str(&vars[id].name);
                    } else {
                        out.push('_');
                    }
                }
                "R" => {
                    if vars[id].read {
                        out.push('&');
                        out.push_str(&vars[id].name);
                    } else {
                        out.push('_');
                    }
                }
                "L" => {
                    if labels_used[id] {
                        out.push_str("'outer: ");
                    }
                }
                "O" => {
                    if vars[id].read {
                        out.push('(');
                        out.push_str(&vars[id].name);
                        out.push_str(", ");
                    }
                }
                "C" => {
                    if vars[id].read {
                        out.push(')');
                    }
                }
                "I" => {
                    if vars[id].read {
                        out.push_str(".enumerate()");
                    }
                }
                "D" => keep = vars[id].read,
                _ => unreachable!("marker {kind}"),
            }
            out.push_str(parts.next().unwrap_or(""));
        }
        keep.then_some(out)
    };
    let mut plain = Vec::new();
    let mut traced = Vec::new();
    for (indent, p, t) in &g.lines {
        let pad = "    ".repeat(*indent);
        if let Some(p) = patch(p) {
            plain.push(format!("{pad}{p}"));
        }
        if let Some(t) = patch(t) {
            traced.push(format!("{pad}{t}"));
        }
    }
    g.stats.lines += plain.len();
    // Parameters written in the body are declared `mut`.
    let written: Vec<bool> = param_ids.iter().map(|&id| g.vars[id].written).collect();
    let mut params = params;
    for (p, w) in params.iter_mut().zip(written) {
        p.mutable = w;
    }
    // Integer arguments per point: include 0, 1 and larger values.
    let mut rng = g.rng.clone();
    let int_params: Vec<usize> = params
        .iter()
        .filter_map(|p| match p.ty {
            ParamTy::Usize(max) | ParamTy::I32(max) => Some(max),
            ParamTy::Bool => Some(1),
            _ => None,
        })
        .collect();
    // Integer arguments: one set per point (the harness cycles through them), the largest
    // values, 0 or 1 (loops that run zero or one time), and random ones.
    let ints = (0..4)
        .map(|j| {
            int_params
                .iter()
                .map(|&max| match j {
                    0 => max,
                    1 => rng.range(0, 1.min(max)),
                    _ => rng.range(0, max),
                })
                .collect()
        })
        .collect();
    let attr = if params.iter().all(|p| p.active) {
        "#[differentiate]".to_owned()
    } else {
        let names: Vec<&str> = params
            .iter()
            .filter(|p| p.active && !p.ty.integer())
            .map(|p| p.name.as_str())
            .collect();
        format!("#[differentiate(wrt({}))]", names.join(", "))
    };
    Function {
        name,
        attr,
        params,
        plain,
        traced,
        ints,
    }
}

impl Function {
    fn render(&self, out: &mut String) {
        let mark = |p: &Param| {
            if p.mutable {
                "mut ".to_owned()
            } else {
                String::new()
            }
        };
        let params = param_list(&self.params, &mark);
        let _ = writeln!(out, "{}", self.attr);
        let _ = writeln!(out, "fn {}({params}) -> f64 {{", self.name);
        for line in &self.plain {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out, "}}\n");
        let body = self.traced.join("\n");
        let tr = if body.contains("tr.") || body.contains("(tr,") {
            "tr"
        } else {
            "_tr"
        };
        let _ = writeln!(out, "fn {}_t({tr}: &Trace, {params}) -> f64 {{", self.name);
        let _ = writeln!(out, "{body}");
        let _ = writeln!(out, "}}\n");
    }

    fn render_case(&self, out: &mut String) {
        let mut args = Vec::new();
        let mut active = Vec::new();
        let mut offset = 0;
        let mut k = 0;
        for p in &self.params {
            let (arg, n) = match p.ty {
                ParamTy::F64 => (format!("p[{offset}]"), 1),
                ParamTy::Slice(n) => (format!("&p[{offset}..{}]", offset + n), n),
                ParamTy::Vec(n) => (format!("p[{offset}..{}].to_vec()", offset + n), n),
                ParamTy::Array(n) => (format!("arr(&p[{offset}..{}])", offset + n), n),
                ParamTy::ArrayRef(n) => (format!("&arr(&p[{offset}..{}])", offset + n), n),
                ParamTy::Rows(r) => (
                    format!(
                        "&p[{offset}..{}].chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>()",
                        offset + 2 * r
                    ),
                    2 * r,
                ),
                ParamTy::Matrix(r, c) => {
                    (format!("&arr2(&p[{offset}..{}])", offset + r * c), r * c)
                }
                ParamTy::Usize(_) => {
                    k += 1;
                    (format!("k[{}]", k - 1), 0)
                }
                ParamTy::I32(_) => {
                    k += 1;
                    (format!("k[{}] as i32", k - 1), 0)
                }
                ParamTy::Bool => {
                    k += 1;
                    (format!("k[{}] == 1", k - 1), 0)
                }
                ParamTy::Struct(by_ref) => {
                    let o = offset;
                    let s = format!(
                        "Params {{ w: arr(&p[{o}..{}]), b: p[{}], v: p[{}..{}].to_vec() }}",
                        o + 3,
                        o + 3,
                        o + 4,
                        o + 7
                    );
                    (if by_ref { format!("&{s}") } else { s }, 7)
                }
            };
            args.push(arg);
            active.extend(std::iter::repeat_n(p.active, n));
            offset += n;
        }
        let f = &self.name;
        let ints: Vec<String> = self
            .ints
            .iter()
            .map(|set| {
                let s: Vec<String> = set.iter().map(|v| v.to_string()).collect();
                format!("[{}]", s.join(", "))
            })
            .collect();
        let active: Vec<String> = active.iter().map(|a| a.to_string()).collect();
        let kname = if k == 0 { "_k" } else { "k" };
        // One item per case: closures are type-checked with the body they are in, and one
        // body holding thousands of them is slow to check.
        let _ = writeln!(
            out,
            "const CASE_{}: Case = case!({f}, {f}_t, {f}_grad, {f}_pullback, {f}_grad_into,\n    n: {offset}, active: [{}], ints: [{}],\n    |p, {kname}| ({}));\n",
            f.to_uppercase(),
            active.join(", "),
            ints.join(", "),
            args.join(", ")
        );
    }
}

/// The fixed helpers the generated functions call, with the traced twin of the one that
/// branches.
const HELPERS: &str = r#"
#[differentiate]
fn h_mix(a: f64, b: f64) -> f64 {
    (a * b).sin() + 0.5 * a
}

#[differentiate]
fn h_dot(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for (a, b) in w.iter().zip(x.iter()) {
        s += a * b.tanh();
    }
    s
}

#[differentiate]
fn h_pow(x: f64, n: usize) -> f64 {
    let mut p: f64 = 1.0;
    for _ in 0..n {
        p *= x;
    }
    p
}

#[differentiate]
fn h_leaky(x: f64) -> f64 {
    if x > 0.0 { x } else { 0.1 * x }
}

fn h_leaky_t(tr: &Trace, x: f64) -> f64 {
    if tr.b(x > 0.0) { x } else { 0.1 * x }
}

#[differentiate]
fn h_norm2(v: [f64; 2]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + 1.0).sqrt()
}

#[differentiate]
fn h_nested(a: f64, x: &[f64]) -> f64 {
    h_mix(a, h_dot(x, x))
}

#[differentiate]
fn h_polar(r: f64, t: f64) -> (f64, f64) {
    (r * t.cos(), r * t.sin())
}

#[differentiate]
fn h_scale3(x: &[f64; 3], s: f64) -> [f64; 3] {
    let mut out = [0.0; 3];
    for i in 0..3 {
        out[i] = x[i] * s + out[(i + 2) % 3];
    }
    out
}

/// A struct parameter: an array, a float and a `Vec` (of 3).
#[derive(Clone, Debug, Default, PartialEq, Differentiable)]
pub struct Params {
    w: [f64; 3],
    b: f64,
    v: Vec<f64>,
}

impl Params {
    #[differentiate]
    fn score(&self, x: f64) -> f64 {
        let mut s = self.b;
        for i in 0..3 {
            s += self.w[i] * (x * self.v[i]).tanh();
        }
        s
    }
}

#[differentiate]
fn h_params(p: &Params, x: f64) -> f64 {
    p.score(x * p.b) + p.v[2] * p.w[0]
}

impl super::harness::Flat for Params {
    fn flat_into(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&self.w);
        out.push(self.b);
        out.extend_from_slice(&self.v);
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        self.w.fill_from(src);
        self.b.fill_from(src);
        self.v.fill_from(src);
    }
}

#[differentiate]
fn h_cumsum(x: &[f64]) -> Vec<f64> {
    let mut out = x.to_vec();
    for i in 1..out.len() {
        out[i] = out[i - 1] * 0.5 + out[i].sin();
    }
    out
}
"#;

/// The start of generated file `k` of [`FILES`], holding `count` functions (included by
/// `tests/random_functions_k.rs`, which declares the harness).
fn header(k: usize, count: usize) -> String {
    format!(
        r#"// @generated by tests/random/generator.rs: {count} functions of the statement-level
// corpus, part {k} of {FILES}.

#[test]
fn random_functions() {{
    harness::run("random_functions_{k}", generated::CASES);
}}

/// The generated functions (not formatted by rustfmt: the generator lays them out).
#[rustfmt::skip]
#[allow(
    // Forms under test: loops that index arrays the way numerical code is written, `a = a * b`,
    // `x as f64` of an `f64` (the cast rule), and `let v; if c {{ v = .. }} else {{ v = .. }}`.
    clippy::needless_range_loop,
    clippy::assign_op_pattern,
    clippy::unnecessary_cast,
    clippy::needless_late_init,
)]
mod generated {{
use super::harness::{{Case, Trace, arr, arr2, case}};
use autodiff_core::{{Differentiable, differentiate}};
"#
    )
}

/// The generated files (path and text) and the statistics of what they cover.
pub fn generate() -> (Vec<(String, String)>, Stats) {
    let mut stats = Stats::default();
    let mut files = Vec::new();
    for k in 1..=FILES {
        let indices: Vec<usize> = ((k - 1) * FUNCTIONS / FILES..k * FUNCTIONS / FILES).collect();
        files.push((file_path(k), render_file(k, &indices, &mut stats)));
    }
    (files, stats)
}

/// A file like the generated ones with only the functions `indices` (each generated exactly as
/// in the full suite): for bisecting and minimizing a failure.
pub fn generate_subset(indices: &[usize]) -> (String, Stats) {
    let mut stats = Stats::default();
    let text = render_file(0, indices, &mut stats);
    (text, stats)
}

fn render_file(k: usize, indices: &[usize], stats: &mut Stats) -> String {
    let functions: Vec<Function> = indices.iter().map(|&i| gen_function(i, stats)).collect();
    let mut out = header(k, functions.len());
    out.push_str(HELPERS);
    out.push('\n');
    for f in &functions {
        f.render(&mut out);
        f.render_case(&mut out);
    }
    let _ = writeln!(out, "pub static CASES: &[Case] = &[");
    for f in &functions {
        let _ = writeln!(out, "    CASE_{},", f.name.to_uppercase());
    }
    let _ = writeln!(out, "];");
    let _ = writeln!(out, "}}");
    out
}
