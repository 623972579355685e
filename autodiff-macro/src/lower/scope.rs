//! Variables in scopes: the user's, and the flags lowering keeps for `return`, `break` and
//! `continue`; declaring, looking up and reassigning them.

use std::collections::BTreeMap;

use super::*;

/// A variable of the body: one the user declared, or one that lowering keeps for control flow.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Var {
    User(String),
    /// Whether a `return` ran.
    Return,
    /// The value a `return` gave.
    ReturnValue,
    /// Whether a `break` of the loop ran (loops are numbered in the order lowering meets them).
    Break(LoopIdx),
    /// Whether a `continue` of the loop ran in the current iteration.
    Continue(LoopIdx),
    /// The value a `break value` of the loop gave.
    BreakValue(LoopIdx),
    /// A variable lowering introduces (the accumulator of `.sum()`), numbered.
    Temp(usize),
}

/// A loop, numbered in the order lowering meets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct LoopIdx(pub(super) usize);

impl Var {
    pub(super) fn user(name: impl Into<String>) -> Self {
        Var::User(name.into())
    }

    /// The user's name, which names the values of the variable in generated code.
    pub(super) fn name(&self) -> Option<&str> {
        match self {
            Var::User(name) => Some(name),
            _ => None,
        }
    }
}

/// What a variable holds, with what lowering knows about its declaration.
#[derive(Clone)]
pub(super) struct Binding {
    /// `None` for a variable declared without a value (`let x;`).
    pub(super) val: Option<Val>,
    /// The type written in `let x: T;`, for constants assigned later (`x = 0.5;`).
    pub(super) declared_ty: Option<syn::Type>,
    /// `let s = &v;`: a reference to a local array, which a call takes as a reference.
    pub(super) by_ref: bool,
    /// With `by_ref`: the name holds a reference to that reference, as a comparator's or a
    /// `filter` predicate's parameter does when the items are references to rows (`a` of
    /// `pts.iter().min_by(|a, b| ..)` is a `&&[f64; 2]`, so `*a` is still a reference). Of a
    /// tuple: the rows it holds are references (`a.1` of `pts.iter().enumerate().min_by(..)`).
    pub(super) behind_ref: bool,
}

impl Binding {
    pub(super) fn new(val: Option<Val>) -> Self {
        Binding {
            val,
            declared_ty: None,
            by_ref: false,
            behind_ref: false,
        }
    }
}

/// The variables a block declares.
pub(super) type Scope = BTreeMap<Var, Binding>;

impl Lowerer<'_> {
    pub(super) fn declare(&mut self, var: Var, val: Option<Val>) {
        self.declare_binding(var, Binding::new(val));
    }

    pub(super) fn declare_binding(&mut self, var: Var, binding: Binding) {
        let scope = self.scopes.last_mut().expect("a scope is always open");
        scope.insert(var, binding);
    }

    pub(super) fn lookup(&self, var: &Var) -> Option<&Binding> {
        self.scopes.iter().rev().find_map(|scope| scope.get(var))
    }

    pub(super) fn lookup_user(&self, name: &str) -> Option<&Binding> {
        self.lookup(&Var::user(name))
    }

    /// The value of a variable the lowering itself declared.
    pub(super) fn var(&self, var: &Var) -> Val {
        match self.lookup(var) {
            Some(Binding { val: Some(val), .. }) => val.clone(),
            _ => Val::Poison,
        }
    }

    /// Reassignment updates the variable in the scope that declared it.
    pub(super) fn assign_var(&mut self, var: &Var, val: Val) -> bool {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(binding) = scope.get_mut(var) {
                binding.val = Some(val);
                return true;
            }
        }
        false
    }

    /// Where a variable is declared: the depth of its scope.
    pub(super) fn depth_of(&self, var: &Var) -> Option<usize> {
        self.scopes
            .iter()
            .rposition(|scope| scope.contains_key(var))
    }
}

pub(super) fn same_opt(a: &Option<Val>, b: &Option<Val>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    }
}

pub(super) fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Scalar(a), Val::Scalar(b)) => same_operand(a, b),
        (Val::Tuple(a), Val::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Val::Mem(a, pa), Val::Mem(b, pb)) => {
            a == b && pa.len() == pb.len() && pa.iter().zip(pb).all(|(a, b)| same_operand(a, b))
        }
        (Val::Unit, Val::Unit) | (Val::Poison, Val::Poison) => true,
        (Val::Closure(a), Val::Closure(b)) => std::rc::Rc::ptr_eq(a, b),
        (Val::Option(a, sa), Val::Option(b, sb)) => same(a, b) && same_operand(sa, sb),
        _ => false,
    }
}

pub(super) fn same_operand(a: &Operand, b: &Operand) -> bool {
    match (a, b) {
        (Operand::Value(a), Operand::Value(b)) => a == b,
        (Operand::Const(a), Operand::Const(b)) => a.tokens.to_string() == b.tokens.to_string(),
        (Operand::Mem(a, pa), Operand::Mem(b, pb)) => {
            a == b && pa.len() == pb.len() && pa.iter().zip(pb).all(|(a, b)| same_operand(a, b))
        }
        (Operand::Bool(a), Operand::Bool(b)) => a == b,
        (Operand::Range(a, b), Operand::Range(c, d)) => same_operand(a, c) && same_operand(b, d),
        (Operand::Index(a), Operand::Index(b)) => a == b,
        (Operand::Undef, Operand::Undef) | (Operand::Poison, Operand::Poison) => true,
        _ => false,
    }
}
