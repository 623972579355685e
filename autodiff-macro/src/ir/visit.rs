//! Queries over the IR that several passes ask: what a block defines, declares and writes.

use std::collections::BTreeSet;

use super::*;

/// Every value defined in a block and the blocks inside it.
pub fn defined_in(block: &Block) -> BTreeSet<Value> {
    defined_in_stmts(&block.stmts)
}

/// Every value defined by statements and the blocks inside them.
pub fn defined_in_stmts(stmts: &[Stmt]) -> BTreeSet<Value> {
    let mut out = BTreeSet::new();
    walk_stmts(stmts, &mut |stmt| match stmt {
        Stmt::Inst(inst) => {
            out.insert(inst.result);
        }
        Stmt::If(if_) => {
            out.insert(if_.record);
            out.extend(if_.phis.iter().map(|p| p.result));
        }
        Stmt::Loop(loop_) => {
            out.insert(loop_.count);
            if let LoopKind::Range { index, .. } = &loop_.kind {
                out.insert(*index);
            }
            for c in &loop_.carried {
                out.insert(c.param);
                out.insert(c.result);
            }
        }
        Stmt::Store(_) | Stmt::MemInit(_) => {}
    });
    out
}

/// The values that are new in each iteration of a loop: its body's, its index, and the carried
/// variables' values at the start of the iteration.
pub fn iteration_values(loop_: &Loop) -> BTreeSet<Value> {
    let mut inside = defined_in(&loop_.body);
    if let LoopKind::Range { index, .. } = &loop_.kind {
        inside.insert(*index);
    }
    inside.extend(loop_.carried.iter().map(|c| c.param));
    inside
}

/// The memories a block declares, with those of the blocks inside it.
pub fn mems_declared_in(block: &Block) -> BTreeSet<Mem> {
    mems_declared_in_stmts(&block.stmts)
}

/// Every memory declared by statements and the blocks inside them.
pub fn mems_declared_in_stmts(stmts: &[Stmt]) -> BTreeSet<Mem> {
    let mut out = BTreeSet::new();
    walk_stmts(stmts, &mut |stmt| {
        if let Stmt::MemInit(init) = stmt {
            if init.declare {
                out.insert(init.mem);
            }
        }
    });
    out
}

/// Whether the block's own statements (not nested blocks) declare `mem`.
pub fn declares_mem(block: &Block, mem: Mem) -> bool {
    block
        .stmts
        .iter()
        .any(|s| matches!(s, Stmt::MemInit(init) if init.mem == mem && init.declare))
}

/// Whether anything in the block (nested blocks included) writes `mem` after declaring it.
pub fn writes_mem(block: &Block, mem: Mem) -> bool {
    block.stmts.iter().any(|stmt| stmt.writes(mem))
}

/// The blocks from the function's body down to the loop `id`: each block, the position of the
/// statement leading to the loop, and whether the block is a loop's body.
pub fn path_to_loop(block: &Block, id: Value) -> Option<Vec<(&Block, usize, bool)>> {
    fn walk<'a>(
        block: &'a Block,
        id: Value,
        loop_body: bool,
        path: &mut Vec<(&'a Block, usize, bool)>,
    ) -> bool {
        for (position, stmt) in block.stmts.iter().enumerate() {
            path.push((block, position, loop_body));
            let found = match stmt {
                Stmt::Loop(loop_) if loop_.count == id => true,
                Stmt::Loop(loop_) => walk(&loop_.body, id, true, path),
                Stmt::If(if_) => {
                    walk(&if_.then_block, id, false, path) || walk(&if_.else_block, id, false, path)
                }
                _ => false,
            };
            if found {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    walk(block, id, false, &mut path).then_some(path)
}

/// Memories written after their declaration.
pub fn written_mems(block: &Block) -> BTreeSet<Mem> {
    let mut out = BTreeSet::new();
    block.walk(&mut |stmt| out.extend(stmt.writes_here()));
    out
}

pub fn find_mem_init(block: &Block, mem: Mem) -> Option<&MemInitKind> {
    let mut found = None;
    block.walk(&mut |stmt| match stmt {
        Stmt::MemInit(init) if init.mem == mem && init.declare && found.is_none() => {
            found = Some(&init.kind)
        }
        _ => {}
    });
    found
}

/// Whether `mem` (a `Vec`) may change its length: pushed onto, or assigned whole.
pub fn may_grow(block: &Block, mem: Mem) -> bool {
    let mut grows = false;
    block.walk(&mut |stmt| {
        grows |= match stmt {
            Stmt::Store(store) => store.mem == mem && store.push,
            Stmt::MemInit(init) => init.mem == mem && !init.declare,
            _ => false,
        };
    });
    grows
}

pub fn find_loop(block: &Block, id: Value) -> Option<&Loop> {
    let mut found = None;
    block.walk(&mut |stmt| match stmt {
        Stmt::Loop(loop_) if loop_.count == id => found = Some(loop_),
        _ => {}
    });
    found
}

/// The operands a statement reads itself (not those of the blocks nested in it).
pub fn operands(stmt: &Stmt) -> Vec<&Operand> {
    match stmt {
        Stmt::Inst(inst) => inst.args.iter().collect(),
        Stmt::Store(store) => store.indices.iter().chain([&store.value]).collect(),
        Stmt::MemInit(init) => match &init.kind {
            MemInitKind::Repeat { elem, lens, .. } => [elem].into_iter().chain(lens).collect(),
            MemInitKind::List { elems, .. } => elems.iter().collect(),
            MemInitKind::Empty { capacity } => capacity.iter().collect(),
            MemInitKind::ZeroLike(like) => vec![like],
            MemInitKind::RowsLike { like, cap } => [like].into_iter().chain(cap).collect(),
            MemInitKind::Copy { .. } | MemInitKind::FromValue(_) | MemInitKind::Placeholder => {
                Vec::new()
            }
        },
        Stmt::If(if_) => [&if_.cond]
            .into_iter()
            .chain(if_.phis.iter().flat_map(|p| [&p.then_value, &p.else_value]))
            .collect(),
        Stmt::Loop(loop_) => {
            let range: Vec<&Operand> = match &loop_.kind {
                LoopKind::Range { start, end, .. } => vec![start, end],
                LoopKind::Forever => Vec::new(),
            };
            range
                .into_iter()
                .chain(loop_.carried.iter().flat_map(|c| [&c.init, &c.next]))
                .chain(&loop_.exit)
                .collect()
        }
    }
}
