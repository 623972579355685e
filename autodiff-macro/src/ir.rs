//! The intermediate form the body is lowered into: every intermediate is a named
//! single-assignment [`Value`], instructions sit in blocks in definition order, and facts about
//! values live in side tables indexed by `Value`.
//!
//! The IR keeps the few pieces of syntax code generation needs (constants, paths, types, passive
//! expressions) as opaque payloads; the analyses and the reverse pass never look inside them.

use proc_macro2::{Span, TokenStream};

use crate::rules::RuleId;

/// A single-assignment value: a parameter or the result of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub u32);

impl Value {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub struct Function {
    /// The value of each parameter, in signature order.
    pub params: Vec<Value>,
    pub body: Block,
    /// What the function returns.
    pub output: Operand,
    /// Indexed by `Value`.
    pub values: Vec<ValueData>,
    /// Items declared inside the body (`const`, `fn`, `use`), copied as they are.
    pub items: Vec<syn::Item>,
}

pub struct ValueData {
    /// The user's variable name, used to name the value and its adjoint.
    pub name: Option<String>,
}

#[derive(Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
}

pub enum Stmt {
    Inst(Inst),
}

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
}

/// A constant expression: a literal, a path such as `PI`, or operators over those.
#[derive(Clone)]
pub struct Const {
    pub tokens: TokenStream,
    /// A single token tree, usable without parentheses as an operand.
    pub atomic: bool,
}

pub enum Op {
    /// The result is the argument (a `let` of a constant, or a `let` with a type annotation).
    Copy,
    /// A differentiable operation from the rules table, written the way the user wrote it.
    Rule { rule: RuleId, form: Form },
    /// A computation the macro does not differentiate; see [`Opaque`].
    Opaque(Opaque),
    /// A call of a function by path. Differentiated through the callee's pullback when an
    /// argument is varied, evaluated as written otherwise.
    Call { func: syn::ExprPath },
    /// Element `.0`, `.1`, ... of a tuple value returned by an opaque computation.
    Field(u32),
}

/// How a rule was written, so the forward sweep repeats it.
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
/// reference to a variable replaced by a hole (`Opaque::hole(k)` is `args[k]`).
pub struct Opaque {
    pub expr: syn::Expr,
    /// `true` when the result is non-differentiable by nature (a comparison, `no_grad(..)`, a
    /// cast to an integer): its arguments may depend on active parameters. `false` for
    /// computations the macro cannot see through (a method without a rule), which are only
    /// allowed on constants; `what` names the construct in errors.
    pub cut: bool,
    pub what: String,
}

impl Opaque {
    pub const HOLE_PREFIX: &'static str = "__autodiff_hole_";

    pub fn hole(k: usize) -> syn::Ident {
        syn::Ident::new(&format!("{}{k}", Self::HOLE_PREFIX), Span::call_site())
    }

    pub fn hole_index(ident: &syn::Ident) -> Option<usize> {
        ident
            .to_string()
            .strip_prefix(Self::HOLE_PREFIX)?
            .parse()
            .ok()
    }
}

impl Function {
    /// Every instruction, in definition order.
    pub fn insts(&self) -> impl DoubleEndedIterator<Item = &Inst> {
        self.body.stmts.iter().map(|stmt| match stmt {
            Stmt::Inst(inst) => inst,
        })
    }
}

impl Inst {
    /// The values this instruction reads.
    pub fn arg_values(&self) -> impl Iterator<Item = Value> + '_ {
        self.args.iter().filter_map(Operand::value)
    }
}

impl Operand {
    pub fn value(&self) -> Option<Value> {
        match self {
            Operand::Value(v) => Some(*v),
            Operand::Const(_) => None,
        }
    }
}
