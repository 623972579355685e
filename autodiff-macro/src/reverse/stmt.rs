//! The backward sweep as the reverse pass writes it: statements over values and rule rows.

use super::Winner;
use crate::ir::{Mem, Operand, Value};

pub enum BwdStmt {
    /// The adjoint of `target` starts at zero: the next writes add into it.
    Zero(Value),
    /// The adjoint memory of a local array starts at zero.
    ZeroMem {
        mem: Mem,
        /// The length of a `Vec` assigned whole at the end of its region.
        len: Option<Value>,
    },
    /// `d_target += term`.
    Add {
        target: Value,
        term: Term,
    },
    /// `d_target.k += term` or `d_target[i] += term` for a tuple or array value.
    AddAt {
        target: Value,
        at: At,
        term: Term,
    },
    /// `d_mem[indices] += term`.
    AddToMem {
        mem: Mem,
        indices: Vec<Operand>,
        term: Term,
    },
    /// `d_mem[indices] = 0`; with `pop`, the element was pushed: `d_mem.truncate(index)`, so
    /// the adjoint is as long as the `Vec` was before the push (what a copy it started from,
    /// or a caller's buffer, expects).
    ResetMemElem {
        mem: Mem,
        indices: Vec<Operand>,
        pop: bool,
    },
    /// `d_target += d_source` elementwise.
    AddMem {
        target: Mem,
        source: Mem,
    },
    /// `d_target += d_source` elementwise, into the adjoint of an array value.
    AddMemToValue {
        target: Value,
        source: Mem,
    },
    /// `d_target[prefix] += d_source` elementwise, from the adjoint of a snapshot.
    AddSnapshot {
        target: Mem,
        prefix: Vec<Operand>,
        source: Value,
    },
    /// The adjoint memory of an array returned in a tuple is its part of the seed (`first`), or
    /// has it added.
    SeedMem {
        mem: Mem,
        path: Vec<u32>,
        first: bool,
    },
    /// `d_mem = 0` elementwise.
    ResetMem {
        mem: Mem,
        /// The length of a `Vec` before it was assigned whole.
        len: Option<Value>,
    },
    /// The skipped float fields of a struct's adjoint set to zero before it flows on to the
    /// values the struct was built from (a callee's adjoint holds copies of the values there).
    ZeroCarried(Value),
    /// `d_target.member = 0` (a copy, for a field that is not differentiated): the field was
    /// replaced, so the struct it came from has no part in it.
    ZeroField {
        target: Value,
        member: syn::Member,
    },
    /// `d_target = 0`: a carried variable's adjoint at the start of an iteration.
    Reset {
        target: Value,
        /// For a tuple or array value: the primal whose shape the zero takes (the carried
        /// variable's value at the start of the iteration).
        like: Option<Value>,
    },
    /// The pullback of the call that defined `call`, adding into the adjoint of each argument
    /// that has a target.
    Pullback {
        call: Value,
        targets: Vec<Option<Target>>,
    },
    /// The adjoint of parameter `param` goes to the caller.
    Output {
        param: usize,
        value: Value,
    },
    If(BwdIf),
    Loop(BwdLoop),
}

pub enum At {
    Field(syn::Member),
    Index(Operand),
    /// `.member[i]`: an element of a field read only by index (see `Reverse::views`).
    FieldIndex(syn::Member, Operand),
}

pub enum Target {
    Value(Value),
    Mem(Mem, Vec<Operand>),
}

pub enum Term {
    /// The incoming adjoint of the output, at a path into a tuple output.
    Seed(Vec<u32>),
    /// Argument `arg` of the rule of the instruction that defined `inst`.
    Rule { inst: Value, arg: usize },
    /// Argument `arg` of a running value's rule: the rule's adjoint, with the index of the
    /// winning iteration telling which argument it goes to.
    Winner { winner: Winner, arg: usize },
    /// The adjoint of another value.
    Adjoint(Value),
    /// An element of an adjoint memory.
    MemElem(Mem, Vec<Operand>),
    /// A field of the adjoint of a struct value (`d_s.x`); with `take`, the field is left
    /// zero (the adjoint flows on without it).
    Part {
        of: Value,
        member: syn::Member,
        take: bool,
    },
}

pub struct BwdIf {
    /// The forward `if`, by its record value.
    pub record: Value,
    pub cond: Operand,
    pub then_stmts: Vec<BwdStmt>,
    pub else_stmts: Vec<BwdStmt>,
}

pub struct BwdLoop {
    /// The forward loop, by its count value.
    pub id: Value,
    pub body: Vec<BwdStmt>,
}
