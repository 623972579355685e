//! A load repeated in the same block (`q[l] * q[l]`) copies the value the first one read, when
//! nothing in between can change the array: the backward sweep then keeps one number, not two.

use std::collections::BTreeMap;

use crate::ir::visit::operands;
use crate::ir::{Block, Mem, MemData, Op, Operand, Stmt, Value, same_indices};

pub(super) fn reuse_loads(block: &mut Block, mems: &[MemData]) {
    // The loads of the block since their array last changed, by array.
    let mut seen: BTreeMap<Mem, Vec<(Vec<Operand>, Value)>> = BTreeMap::new();
    for stmt in &mut block.stmts {
        match stmt {
            Stmt::Inst(inst) => {
                if let Op::Load(mem) = inst.op {
                    let plain = mems[mem.index()].field.is_none() && !mems[mem.index()].structured;
                    let earlier = seen.get(&mem).and_then(|loads| {
                        loads
                            .iter()
                            .find(|(indices, _)| same_indices(indices, &inst.args))
                            .map(|(_, value)| *value)
                    });
                    match earlier {
                        Some(value) if plain => {
                            inst.op = Op::Copy;
                            inst.args = vec![Operand::Value(value)];
                        }
                        _ if plain => seen
                            .entry(mem)
                            .or_default()
                            .push((inst.args.clone(), inst.result)),
                        _ => {}
                    }
                    continue;
                }
            }
            Stmt::If(if_) => {
                reuse_loads(&mut if_.then_block, mems);
                reuse_loads(&mut if_.else_block, mems);
            }
            Stmt::Loop(loop_) => reuse_loads(&mut loop_.body, mems),
            Stmt::Store(_) | Stmt::MemInit(_) => {}
        }
        // What the statement may change: what it writes, and any array it uses whole (a call's
        // argument).
        seen.retain(|mem, _| !stmt.writes(*mem) && !uses_whole(stmt, *mem));
    }
}

/// Whether `stmt` or a block nested in it names `mem` as a whole (or a row of it), or snapshots
/// it.
fn uses_whole(stmt: &Stmt, mem: Mem) -> bool {
    let mut found = false;
    crate::ir::walk_stmts(std::slice::from_ref(stmt), &mut |stmt| {
        found |= operands(stmt)
            .into_iter()
            .any(|op| matches!(op, Operand::Mem(m, _) if *m == mem))
            || matches!(stmt, Stmt::Inst(inst) if matches!(inst.op, Op::Snapshot(m) if m == mem));
    });
    found
}
