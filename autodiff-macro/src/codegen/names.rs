//! Generated names: readable, unique among themselves, resolved at `Span::mixed_site()`.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::Span;
use syn::Ident;

use crate::ir::{Function, Mem, Value};

/// What a generated name is derived from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Derived {
    Adjoint(Value),
    MemAdjoint(Mem),
    Pullback(Value),
    /// The winning iteration of the loop with this count ([`crate::reverse::Winner`]).
    Winner(Value),
}

#[derive(Default)]
pub(super) struct Names {
    pub(super) taken: BTreeSet<String>,
    pub(super) values: BTreeMap<Value, Ident>,
    pub(super) mems: BTreeMap<Mem, Ident>,
    pub(super) derived: BTreeMap<Derived, Ident>,
    pub(super) n_temps: usize,
}

impl Names {
    /// Names for the locals of a generated function, which must not collide with its
    /// parameters, whatever their names.
    pub(super) fn avoiding(params: &[Ident]) -> Self {
        let mut names = Names::default();
        for name in params {
            names.taken.insert(name.to_string());
        }
        names
    }

    /// A name no other generated name has: `base`, else `base_1`, `base_2`, ...
    pub(super) fn fresh(&mut self, base: &str, span: Span) -> Ident {
        // A raw identifier's name (`r#type`) without its prefix, which `d_` cannot precede.
        let base = base.replace("r#", "");
        let base = base.as_str();
        let mut name = base.to_owned();
        let mut k = 0;
        while self.taken.contains(&name) || is_keyword(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken.insert(name.clone());
        mixed(&name, span)
    }

    pub(super) fn bind(&mut self, value: Value, name: String) {
        self.taken.insert(name.clone());
        self.values.insert(value, mixed(&name, Span::call_site()));
    }

    pub(super) fn bind_mem(&mut self, mem: Mem, name: String) {
        self.taken.insert(name.clone());
        self.mems.insert(mem, mixed(&name, Span::call_site()));
    }

    pub(super) fn bind_fresh(&mut self, value: Value, base: &str) {
        let ident = self.fresh(base, Span::call_site());
        self.values.insert(value, ident);
    }

    pub(super) fn temp(&mut self, prefix: &str) -> Ident {
        loop {
            let name = format!("{prefix}{}", self.n_temps);
            self.n_temps += 1;
            if !self.taken.contains(&name) {
                return self.fresh(&name, Span::call_site());
            }
        }
    }

    pub(super) fn value(&mut self, function: &Function, value: Value) -> Ident {
        if let Some(ident) = self.values.get(&value) {
            return ident.clone();
        }
        let ident = match &function.values[value.index()].name {
            Some(name) => self.fresh(name, Span::call_site()),
            None => self.temp("t"),
        };
        self.values.insert(value, ident.clone());
        ident
    }

    pub(super) fn mem(&mut self, function: &Function, mem: Mem) -> Ident {
        if let Some(ident) = self.mems.get(&mem) {
            return ident.clone();
        }
        let ident = match &function.mems[mem.index()].name {
            Some(name) => self.fresh(name, Span::call_site()),
            None => self.temp("a"),
        };
        self.mems.insert(mem, ident.clone());
        ident
    }

    pub(super) fn adjoint(&mut self, function: &Function, value: Value) -> Ident {
        let primal = self.value(function, value);
        self.derived(Derived::Adjoint(value), || format!("d_{primal}"))
    }

    pub(super) fn mem_adjoint(&mut self, function: &Function, mem: Mem) -> Ident {
        let primal = self.mem(function, mem);
        self.derived(Derived::MemAdjoint(mem), || format!("d_{primal}"))
    }

    pub(super) fn pullback(&mut self, function: &Function, value: Value) -> Ident {
        let primal = self.value(function, value);
        self.derived(Derived::Pullback(value), || format!("{primal}_pullback"))
    }

    /// The name of something derived from a value or memory, made once.
    pub(super) fn derived(&mut self, key: Derived, base: impl FnOnce() -> String) -> Ident {
        if let Some(ident) = self.derived.get(&key) {
            return ident.clone();
        }
        let ident = self.fresh(&base(), Span::call_site());
        self.derived.insert(key, ident.clone());
        ident
    }
}

/// Rust's keywords, which a generated name cannot be (user names are valid identifiers, and a
/// prefix or suffix keeps them so, except for these).
pub(super) fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
        "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do",
        "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
        "gen", "_",
    ];
    KEYWORDS.contains(&name)
}
