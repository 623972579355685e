//! The intermediate form the body is lowered into.
//!
//! Scalars are single-assignment [`Value`]s: shadowing and reassignment make new values, an `if`
//! joins the values of its branches in [`Phi`]s, and a loop carries the variables it reassigns
//! in [`Carried`] values (parameter at the start of an iteration, next value at its end, result
//! after the loop). Control flow stays structured: blocks nest, and `break`, `continue` and
//! `return` are lowered into flags, so each construct has one entry and one exit and its reverse
//! is the same construct walked backwards.
//!
//! Arrays, slices and vectors are [`Mem`]ories: places with contents, read by `Load` and written
//! by [`Store`]. A load's value is a value like any other, so the backward sweep never needs an
//! earlier state of an array, only the values read from it.
//!
//! Facts about values and memories live in side tables indexed by them. The IR keeps the few
//! pieces of syntax code generation needs (constants, paths, types, passive expressions) as
//! opaque payloads; the analyses and the reverse pass never look inside them.

use proc_macro2::{Span, TokenStream};

use crate::rules::RuleId;

/// A single-assignment value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub u32);

/// An array, slice or vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mem(pub u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Mem {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone)]
pub struct Function {
    /// Each parameter of the signature, in order.
    pub params: Vec<ParamRef>,
    pub body: Block,
    pub output: Output,
    /// Indexed by `Value`.
    pub values: Vec<ValueData>,
    /// Indexed by `Mem`.
    pub mems: Vec<MemData>,
    /// Items declared inside the body (`const`, `fn`, `use`), copied as they are.
    pub items: Vec<syn::Item>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamRef {
    Value(Value),
    Mem(Mem),
}

/// What the function returns.
#[derive(Clone)]
pub enum Output {
    Operand(Operand),
    /// A value returned that the seed does not reach: `_hvp` returns the function's value next
    /// to the tangent it differentiates, and the value's own adjoint would be zero.
    Passive(Operand),
    Tuple(Vec<Output>),
    Mem(Mem),
}

#[derive(Clone)]
pub struct ValueData {
    /// The user's variable name, used to name the value and its adjoint.
    pub name: Option<String>,
    /// A parameter of reference type: passed again, not borrowed, when handed to a pullback.
    pub by_ref: bool,
    /// The value may be a tuple or an array (a call's result, or an element of one): its adjoint
    /// starts as a zero of the same shape rather than `0.0`.
    pub aggregate: bool,
    /// Never differentiated, whatever it was computed from: a value matched against an enum's
    /// variants (only structs are differentiated).
    pub passive: bool,
    /// An element of a value read out whole (`ss[i]` of a call's `Vec`), which may be a struct
    /// that is not `Copy`: cloned out of it, not moved.
    pub cloned: bool,
}

#[derive(Clone)]
pub struct MemData {
    pub name: Option<String>,
    /// Number of indices of an element: 1 for `[f64; N]`, 2 for `[[f64; M]; N]`.
    pub dims: usize,
    /// A `Vec` (or slice) rather than an array: its length is known only at run time.
    pub vec: bool,
    /// A parameter (read-only: a mutable array parameter is copied into a local first), or a
    /// field of one.
    pub param: Option<usize>,
    /// A struct, or a field of one: its shape is unknown, so an index or a field access is a
    /// view, and a view used as a number is a load.
    pub structured: bool,
    /// A field of a struct: the struct and the path of field names (`p.layer1.w`).
    pub field: Option<(Mem, Vec<syn::Member>)>,
}

#[derive(Clone, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
}

// A function's IR is small and built once; boxing instructions would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Stmt {
    Inst(Inst),
    Store(Store),
    MemInit(MemInit),
    If(If),
    Loop(Loop),
}

#[derive(Clone)]
pub struct Inst {
    pub result: Value,
    pub op: Op,
    pub args: Vec<Operand>,
    /// Where the user wrote it; generated code for it carries this span.
    pub span: Span,
    /// The user's type annotation on the `let` that binds the result.
    pub ty: Option<syn::Type>,
}

#[derive(Clone)]
pub enum Operand {
    Value(Value),
    Const(Const),
    /// An array as a whole (an argument of a call, or in an opaque expression), with the indices
    /// already applied to it (`m[i]` is a row of a matrix).
    Mem(Mem, Vec<Operand>),
    /// `start..end` among the indices of a memory: a sub-slice (`x[a..b]`, then `x[a..b][i]`).
    Range(Box<Operand>, Box<Operand>),
    /// A flag that lowering knows (a `break` that has run, or not).
    Bool(bool),
    /// An index that the reverse pass knows (element `k` of a list).
    Index(usize),
    /// A value never read: a variable on a path that has not assigned it.
    Undef,
    /// The value of an expression that had an error, already reported.
    Poison,
}

/// A constant expression: a literal, a path such as `PI`, or operators over those.
#[derive(Clone)]
pub struct Const {
    pub tokens: TokenStream,
    /// A single token tree, usable without parentheses as an operand.
    pub atomic: bool,
}

#[derive(Clone)]
pub enum Op {
    /// The result is the argument (a `let` of a constant, or a `let` with a type annotation).
    Copy,
    /// A differentiable operation from the rules table, written the way the user wrote it.
    Rule { rule: RuleId, form: Form },
    /// A computation the macro does not differentiate; see [`Opaque`].
    Opaque(Opaque),
    /// A call of a function or method: through the callee's pullback when an argument is
    /// active, as written otherwise. `written_ref[k]`: argument `k` is written `&arg` (as the
    /// user did, or a row the user bound by reference); `by_ref[k]`: the callee receives it as
    /// a reference, which its pullback takes again.
    /// With `tangents`, the call of the callee's forward mode that forward mode writes: the
    /// second half of the arguments are the tangents of the first (`Undef` for a zero one), and
    /// the result is the pair of the value and its tangent.
    /// `cut[k]`: argument `k` is a struct place written `no_grad(&s.env)`: passed as the place,
    /// its adjoint and tangent not taken.
    Call {
        callee: Callee,
        written_ref: Vec<bool>,
        by_ref: Vec<bool>,
        cut: Vec<bool>,
        tangents: bool,
    },
    /// Field `.k` of a tuple value, or `.name` of a struct value.
    Field(syn::Member),
    /// `Path { a: args[0], b: args[1] }` (and `Path(args..)` of a tuple struct, written
    /// `Path { 0: .., 1: .. }`): a struct built from its fields.
    Struct {
        path: syn::Path,
        members: Vec<syn::Member>,
        /// The tangent of a struct (forward mode): its skipped float fields are zero, as the
        /// reverse pass takes them for constants (`BwdStmt::ZeroCarried`).
        tangent: bool,
    },
    /// `args[0]` with its field `member` replaced by `args[1]` (`s.v -= dt * a` on a struct
    /// value): a new struct, the old one kept for the backward sweep.
    WithField {
        member: syn::Member,
        /// The tangent of a struct (forward mode): its skipped float fields are zero.
        tangent: bool,
    },
    /// `args[0][args[1]]...`: an element of an array value (a call's result).
    Index,
    /// `mem[args[0]][args[1]]...`: an element of a memory.
    Load(Mem),
    /// `mem[args..].len()`: the length of an array, slice or vector (or of a row of one).
    Len(Mem),
    /// An owned copy of a memory (with the indices in `args` applied): a local array passed by
    /// reference to a call, frozen as the call saw it for the callee's backward sweep.
    Snapshot(Mem),
}

/// What a call calls.
#[derive(Clone)]
pub enum Callee {
    /// `f(args)`, `path::f(args)`.
    Path(syn::ExprPath),
    /// `args[0].method(args[1..])`.
    Method(syn::Ident),
}

/// How a rule was written, so that the forward sweep repeats it.
#[derive(Clone)]
pub enum Form {
    /// `a + b`, `a * b`, ...
    Binary(syn::BinOp),
    /// `-a`
    Neg,
    /// `a.sin()`, `a.atan2(b)`
    Method(syn::Ident),
    /// `f64::sin(a)`
    Path(syn::ExprPath),
    /// `a as f32`
    Cast(syn::Type),
}

/// A computation whose result carries no derivative, kept as the user wrote it with each
/// reference to a variable replaced by a hole; hole `k` is `args[k]`.
#[derive(Clone)]
pub struct Opaque {
    /// The expression's tokens. A hole is the pair `__autodiff_hole k` (an identifier followed
    /// by a literal), which valid Rust outside macros never contains, so user code cannot fake
    /// one.
    pub expr: TokenStream,
    /// `true` when the result is non-differentiable by nature (a comparison, `no_grad(..)`, a
    /// cast to an integer): its arguments may depend on active parameters. `false` for
    /// computations the macro cannot see through (a method without a rule), which are only
    /// allowed on constants.
    pub cut: bool,
    /// For a computation that is not cut: the error when an argument turns out to be active.
    pub error: String,
    /// The user's expression, for the span of that error.
    pub at: TokenStream,
    /// Integer arithmetic on positions that lowering wrote (`p + size` of `windows`), or the
    /// length of a parameter behind a shared reference: pure and cheap, so a backward sweep
    /// computes it again rather than tape it.
    pub index: bool,
    /// A borrow of data that is not differentiated (`&nbrs[i]`): never taped, since the
    /// backward closure holds no borrow of the arguments, so a backward sweep that needs it
    /// computes it again from what it reads (recorded where needed).
    pub borrow: bool,
}

impl Op {
    /// A borrow of data that is not differentiated (see [`Opaque::borrow`]).
    pub fn is_borrow(&self) -> bool {
        matches!(self, Op::Opaque(opaque) if opaque.borrow)
    }
}

impl Opaque {
    /// A computation whose result is never differentiable.
    pub fn cut(expr: TokenStream) -> Self {
        Opaque {
            expr,
            cut: true,
            error: String::new(),
            at: TokenStream::new(),
            index: false,
            borrow: false,
        }
    }

    const HOLE: &'static str = "__autodiff_hole";

    /// The tokens of hole `k`.
    pub fn hole(k: usize) -> TokenStream {
        let marker = proc_macro2::Ident::new(Self::HOLE, Span::mixed_site());
        let index = proc_macro2::Literal::usize_unsuffixed(k);
        quote::quote!(#marker #index)
    }

    /// `tokens` with every hole replaced by what `fill` gives for its index.
    pub fn map_holes(
        tokens: TokenStream,
        fill: &mut impl FnMut(usize) -> TokenStream,
    ) -> TokenStream {
        use proc_macro2::TokenTree;
        let mut out = Vec::new();
        let mut iter = tokens.into_iter().peekable();
        while let Some(tt) = iter.next() {
            match tt {
                TokenTree::Ident(ident) if ident == Self::HOLE => {
                    let index = match iter.peek() {
                        Some(TokenTree::Literal(lit)) => lit.to_string().parse::<usize>().ok(),
                        _ => None,
                    };
                    match index {
                        Some(k) => {
                            iter.next();
                            out.extend(fill(k));
                        }
                        None => out.push(TokenTree::Ident(ident)),
                    }
                }
                TokenTree::Group(group) => {
                    let mut new = proc_macro2::Group::new(
                        group.delimiter(),
                        Self::map_holes(group.stream(), fill),
                    );
                    new.set_span(group.span());
                    out.push(TokenTree::Group(new));
                }
                other => out.push(other),
            }
        }
        out.into_iter().collect()
    }
}

/// `mem[indices] = value`.
#[derive(Clone)]
pub struct Store {
    pub mem: Mem,
    pub indices: Vec<Operand>,
    pub value: Operand,
    /// `mem.push(value)`: the index is the length before (an instruction of its own).
    pub push: bool,
    pub span: Span,
}

/// The whole contents of a local memory: its declaration (`let mut a = [0.0; n];`), or an
/// assignment of a whole array (`a = b;`) when `declare` is false.
#[derive(Clone)]
pub struct MemInit {
    pub mem: Mem,
    pub kind: MemInitKind,
    pub declare: bool,
    /// For a `Vec` that is assigned whole: on its declaration, its length at the end of the
    /// block that declares it; on an assignment, its length before. The backward sweep shapes
    /// the adjoint with them, since an assignment may change the length.
    pub len: Option<Value>,
    /// The user's type annotation on the `let` that declares it.
    pub ty: Option<syn::Type>,
    pub span: Span,
}

#[derive(Clone)]
pub enum MemInitKind {
    /// `[elem; len]` or `vec![elem; len]`, nested for `[[elem; m]; n]`, `vec![vec![elem; m]; n]`:
    /// the length and whether it is a `Vec` at each level, outermost first.
    Repeat {
        elem: Operand,
        lens: Vec<Operand>,
        vecs: Vec<bool>,
    },
    /// `[a, b, c]` or `vec![a, b, c]`; with `row`, the rows of a matrix literal
    /// (`[[a, b], [c, d]]` or `vec![vec![a, b], ..]`, row by row): their length and whether
    /// they are `Vec`s.
    List {
        elems: Vec<Operand>,
        row: Option<(usize, bool)>,
    },
    /// `let mut a = x;`, `x.to_vec()`, `x.clone()`.
    Copy { src: Mem },
    /// Zeros shaped like a memory or an array value: forward mode's tangent of a copy of
    /// something that does not vary.
    ZeroLike(Operand),
    /// `Vec`s of zeros as long as the rows of a memory (`m.iter().map(|row| row.iter()..
    /// .collect()).collect()`), or as `cap` where that is shorter (`row.iter().zip(g)`): the
    /// matrix the rows are then stored into.
    RowsLike { like: Operand, cap: Option<Operand> },
    /// `a = f(..)`: an array value returned by a call.
    FromValue(Value),
    /// A placeholder, overwritten before it is read: the output array of a function that
    /// returns early.
    Placeholder,
    /// `Vec::new()`, `Vec::with_capacity(n)`: an empty `Vec`, grown by `push`.
    Empty { capacity: Option<Operand> },
}

/// `if cond { then } else { else }`, whose branches set the `phis`.
#[derive(Clone)]
pub struct If {
    pub cond: Operand,
    pub then_block: Block,
    pub else_block: Block,
    pub phis: Vec<Phi>,
    /// Which branch ran and what it saved for the backward sweep, when something needs it.
    pub record: Value,
    pub span: Span,
}

#[derive(Clone)]
pub struct Phi {
    pub result: Value,
    pub then_value: Operand,
    pub else_value: Operand,
}

#[derive(Clone)]
pub struct Loop {
    pub kind: LoopKind,
    pub carried: Vec<Carried>,
    pub body: Block,
    /// A bool computed by the body: the loop ends after an iteration that sets it (`break`,
    /// `return`, a `while` condition that failed).
    pub exit: Option<Operand>,
    /// The number of iterations run, when something needs it.
    pub count: Value,
    pub span: Span,
}

#[derive(Clone)]
pub enum LoopKind {
    /// `for index in start..end` (`..=` when `inclusive`, `.rev()` when `reversed`).
    Range {
        index: Value,
        start: Operand,
        end: Operand,
        inclusive: bool,
        reversed: bool,
    },
    /// `loop` (and `while`, whose condition sets `exit`).
    Forever,
}

/// A variable the loop body reassigns.
#[derive(Clone)]
pub struct Carried {
    /// Its value before the loop.
    pub init: Operand,
    /// Its value at the start of an iteration.
    pub param: Value,
    /// Its value at the end of an iteration.
    pub next: Operand,
    /// Its value after the loop.
    pub result: Value,
}

impl Inst {
    /// The values this instruction reads.
    pub fn arg_values(&self) -> impl Iterator<Item = Value> + '_ {
        self.args.iter().flat_map(Operand::values)
    }
}

impl Operand {
    pub fn value(&self) -> Option<Value> {
        match self {
            Operand::Value(v) => Some(*v),
            _ => None,
        }
    }

    /// The integer `0` (the start of a range from zero).
    pub fn is_zero(&self) -> bool {
        match self {
            Operand::Index(0) => true,
            Operand::Const(c) => c.tokens.to_string() == "0",
            _ => false,
        }
    }

    /// Every value the operand reads (the indices of a memory operand too).
    pub fn values(&self) -> Vec<Value> {
        match self {
            Operand::Value(v) => vec![*v],
            Operand::Const(_)
            | Operand::Bool(_)
            | Operand::Index(_)
            | Operand::Undef
            | Operand::Poison => vec![],
            Operand::Mem(_, indices) => indices.iter().flat_map(Operand::values).collect(),
            Operand::Range(start, end) => start.values().into_iter().chain(end.values()).collect(),
        }
    }
}

/// Whether two lists of indices name the same place: the same values, positions or integer
/// literals (a named constant is compared by nothing but its tokens, so it does not count).
pub fn same_indices(a: &[Operand], b: &[Operand]) -> bool {
    let literal = |c: &Const| {
        syn::parse2::<syn::LitInt>(c.tokens.clone())
            .ok()
            .and_then(|lit| lit.base10_parse::<u128>().ok())
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Operand::Value(a), Operand::Value(b)) => a == b,
            (Operand::Index(a), Operand::Index(b)) => a == b,
            (Operand::Const(a), Operand::Const(b)) => {
                literal(a).is_some() && literal(a) == literal(b)
            }
            _ => false,
        })
}

/// Calls `f` on every statement of `stmts` and of the blocks nested in them, in order (a nested
/// statement after the one that contains it).
pub fn walk_stmts<'a>(stmts: &'a [Stmt], f: &mut impl FnMut(&'a Stmt)) {
    for stmt in stmts {
        f(stmt);
        match stmt {
            Stmt::If(if_) => {
                if_.then_block.walk(f);
                if_.else_block.walk(f);
            }
            Stmt::Loop(loop_) => loop_.body.walk(f),
            Stmt::Inst(_) | Stmt::Store(_) | Stmt::MemInit(_) => {}
        }
    }
}

impl Block {
    /// Calls `f` on every statement of the block and of the blocks nested in it, in order (a
    /// nested statement after the one that contains it).
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Stmt)) {
        walk_stmts(&self.stmts, f);
    }

    /// Calls `f` on every instruction of the block and the blocks nested in it, in order.
    pub fn for_each_inst<'a>(&'a self, f: &mut impl FnMut(&'a Inst)) {
        self.walk(&mut |stmt| {
            if let Stmt::Inst(inst) = stmt {
                f(inst);
            }
        });
    }
}

impl Stmt {
    /// Whether this statement writes `mem` after its declaration (here or in a nested block).
    pub fn writes(&self, mem: Mem) -> bool {
        let mut writes = false;
        let mut check = |stmt: &Stmt| writes |= stmt.writes_here().any(|m| m == mem);
        check(self);
        match self {
            Stmt::If(if_) => {
                if_.then_block.walk(&mut check);
                if_.else_block.walk(&mut check);
            }
            Stmt::Loop(loop_) => loop_.body.walk(&mut check),
            _ => {}
        }
        writes
    }

    /// The memories this statement itself (not a nested block) may write: a store, an
    /// assignment of the whole array, and an expression the macro passes through that takes
    /// the array whole (`idx.fill(0)`, `v.swap(i, j)`: it cannot tell a method that writes from
    /// one that reads).
    pub fn writes_here(&self) -> impl Iterator<Item = Mem> + '_ {
        let (written, taken) = match self {
            Stmt::Store(store) => (Some(store.mem), &[][..]),
            Stmt::MemInit(init) if !init.declare => (Some(init.mem), &[][..]),
            Stmt::Inst(Inst {
                op: Op::Opaque(_),
                args,
                ..
            }) => (None, &args[..]),
            _ => (None, &[][..]),
        };
        written
            .into_iter()
            .chain(taken.iter().filter_map(|arg| match arg {
                Operand::Mem(mem, _) => Some(*mem),
                _ => None,
            }))
    }
}
pub mod print;
pub mod visit;
