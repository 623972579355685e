//! Variables in scopes: declaring, looking up and reassigning them.

use super::*;

impl Lowerer<'_> {
    pub(super) fn declare(&mut self, name: &str, val: Option<Val>) {
        let scope = self.scopes.last_mut().expect("a scope is always open");
        scope.insert(name.to_owned(), val);
    }

    pub(super) fn lookup(&self, name: &str) -> Option<&Option<Val>> {
        self.scopes.iter().rev().find_map(|scope| scope.get(name))
    }

    /// The value of a variable the lowering itself declared.
    pub(super) fn var(&self, name: &str) -> Val {
        match self.lookup(name) {
            Some(Some(val)) => val.clone(),
            _ => Val::Poison,
        }
    }

    /// Reassignment updates the variable in the scope that declared it.
    pub(super) fn assign_var(&mut self, name: &str, val: Val) -> bool {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = Some(val);
                return true;
            }
        }
        false
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
        _ => false,
    }
}
