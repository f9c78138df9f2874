//! Classic BPF as seccomp takes it: the instruction, Linux's checks of a
//! filter (`bpf_check_classic` then `seccomp_check_filter`), and the
//! interpreter that runs a checked filter on a `struct seccomp_data`. The
//! interpreter only moves forward (the checker allows no other jumps), so
//! it ends within the filter's length, and it cannot panic on any program
//! the checker accepted.

/// `struct sock_filter`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// An instruction as the application laid it out (8 bytes).
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let k = self.k.to_le_bytes();
        let c = self.code.to_le_bytes();
        [c[0], c[1], self.jt, self.jf, k[0], k[1], k[2], k[3]]
    }
}

/// `BPF_MAXINSNS`.
pub const MAX_INSNS: usize = 4096;
/// `sizeof(struct seccomp_data)`.
pub const DATA_SIZE: u32 = 64;
/// `BPF_MEMWORDS`: scratch cells.
const MEMWORDS: u32 = 16;

// Classes, sizes, modes, operations, sources (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const MSH: u16 = 0xa0;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const MOD: u16 = 0x90;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;
/// `SKF_AD_OFF`: ancillary loads start here (none is allowed to seccomp).
const SKF_AD_OFF: u32 = (-0x1000i32) as u32;

/// The ALU operations seccomp allows (no `BPF_MOD`), each with K and X.
const ALU_OPS: [u16; 9] = [ADD, SUB, MUL, DIV, AND, OR, XOR, LSH, RSH];
const COND_JUMPS: [u16; 4] = [JEQ, JGT, JGE, JSET];

/// The loads, stores, moves, returns and the jump that classic BPF and
/// seccomp both have, beside the ALU operations and conditional jumps.
const COMMON: [u16; 11] =
    [LD | IMM, LD | MEM, LDX | IMM, LDX | MEM, ST, STX, MISC | TAX, MISC | TXA, RET | K, RET | A, JMP | JA];

/// Whether classic BPF knows `code` at all (Linux's `chk_code_allowed`).
fn classic_code(code: u16) -> bool {
    let alu = (ALU_OPS.iter().chain(&[MOD])).any(|&op| code == ALU | op | K || code == ALU | op | X);
    let jmp = COND_JUMPS.iter().any(|&op| code == JMP | op | K || code == JMP | op | X);
    alu || jmp
        || COMMON.contains(&code)
        || [
            ALU | NEG,
            LD | W | ABS,
            LD | H | ABS,
            LD | B | ABS,
            LD | W | LEN,
            LD | W | IND,
            LD | H | IND,
            LD | B | IND,
            LDX | W | LEN,
            LDX | B | MSH,
        ]
        .contains(&code)
}

/// Whether seccomp runs `code` (after `seccomp_check_filter`'s rewrites of
/// the absolute word load and the length loads).
fn seccomp_code(code: u16) -> bool {
    let alu = ALU_OPS.iter().any(|&op| code == ALU | op | K || code == ALU | op | X);
    let jmp = COND_JUMPS.iter().any(|&op| code == JMP | op | K || code == JMP | op | X);
    alu || jmp
        || COMMON.contains(&code)
        || [ALU | NEG, LD | W | ABS, LD | W | LEN, LDX | W | LEN].contains(&code)
}

fn cond_jump(code: u16) -> bool {
    code & 0x07 == JMP && code != JMP | JA
}

/// Linux's checks of a seccomp filter: `bpf_check_classic` (known codes,
/// no division by a constant zero, shifts under 32, scratch cells in
/// range, jumps forward and inside, ends in a RET, no read of a scratch
/// cell no path stored) and `seccomp_check_filter` (only the codes seccomp
/// runs; word loads of `struct seccomp_data` aligned and in range). Any
/// failure is `EINVAL` to the caller.
pub fn check(prog: &[Insn]) -> bool {
    let len = prog.len();
    if len == 0 || len > MAX_INSNS {
        return false;
    }
    for (pc, i) in prog.iter().enumerate() {
        if !classic_code(i.code) {
            return false;
        }
        let rest = (len - pc - 1) as u64;
        let ok = match i.code {
            c if c == ALU | DIV | K || c == ALU | MOD | K => i.k != 0,
            c if c == ALU | LSH | K || c == ALU | RSH | K => i.k < 32,
            c if c == LD | MEM || c == LDX | MEM || c == ST || c == STX => i.k < MEMWORDS,
            c if c == JMP | JA => u64::from(i.k) < rest,
            c if cond_jump(c) => u64::from(i.jt) < rest && u64::from(i.jf) < rest,
            c if c == LD | W | ABS || c == LD | H | ABS || c == LD | B | ABS => i.k < SKF_AD_OFF,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    if !matches!(prog[len - 1].code, c if c == RET | K || c == RET | A) {
        return false;
    }
    if !stores_before_loads(prog) {
        return false;
    }
    prog.iter().all(|i| seccomp_code(i.code) && (i.code != LD | W | ABS || (i.k < DATA_SIZE && i.k & 3 == 0)))
}

/// Linux's `check_load_and_stores`: every read of a scratch cell follows a
/// store to it on every path there.
fn stores_before_loads(prog: &[Insn]) -> bool {
    let mut masks = vec![u16::MAX; prog.len()];
    let mut valid: u16 = 0;
    for (pc, i) in prog.iter().enumerate() {
        valid &= masks[pc];
        match i.code {
            c if c == ST || c == STX => valid |= 1 << i.k,
            c if (c == LD | MEM || c == LDX | MEM) && valid & (1 << i.k) == 0 => return false,
            c if c == JMP | JA => {
                masks[pc + 1 + i.k as usize] &= valid;
                valid = u16::MAX;
            }
            c if cond_jump(c) => {
                masks[pc + 1 + i.jt as usize] &= valid;
                masks[pc + 1 + i.jf as usize] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    true
}

/// Run a filter [`check`] accepted on `data` (a `struct seccomp_data`):
/// the value it returns. A division by a zero X returns 0, as Linux's
/// converted programs do.
pub fn run(prog: &[Insn], data: &[u8; DATA_SIZE as usize]) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEMWORDS as usize];
    let mut pc = 0usize;
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let k = i.k;
        match i.code & 0x07 {
            RET => return if i.code == RET | A { a } else { k },
            LD | LDX => {
                let v = match i.code & 0xe0 {
                    ABS => {
                        let at = k as usize;
                        data.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    }
                    MEM => mem[(k % MEMWORDS) as usize],
                    LEN => DATA_SIZE,
                    _ => k,
                };
                if i.code & 0x07 == LD { a = v } else { x = v }
            }
            ST => mem[(k % MEMWORDS) as usize] = a,
            STX => mem[(k % MEMWORDS) as usize] = x,
            MISC => {
                if i.code == MISC | TAX {
                    x = a
                } else {
                    a = x
                }
            }
            ALU => {
                let src = if i.code & X != 0 { x } else { k };
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(src),
                    SUB => a.wrapping_sub(src),
                    MUL => a.wrapping_mul(src),
                    DIV => match a.checked_div(src) {
                        Some(v) => v,
                        None => return 0,
                    },
                    AND => a & src,
                    OR => a | src,
                    XOR => a ^ src,
                    LSH => a.wrapping_shl(src),
                    RSH => a.wrapping_shr(src),
                    NEG => a.wrapping_neg(),
                    _ => return 0,
                };
            }
            JMP => {
                let src = if i.code & X != 0 { x } else { k };
                let skip = match i.code & 0xf0 {
                    JA => k as usize,
                    op => {
                        let taken = match op {
                            JEQ => a == src,
                            JGT => a > src,
                            JGE => a >= src,
                            _ => a & src != 0,
                        };
                        usize::from(if taken { i.jt } else { i.jf })
                    }
                };
                pc = pc.saturating_add(skip);
            }
            _ => return 0,
        }
    }
    // Unreachable for a checked filter (it ends in RET): kill, as a
    // filter that returns 0 does.
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(code: u16, k: u32) -> Insn {
        Insn { code, jt: 0, jf: 0, k }
    }

    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    fn data(nr: u32, arg0: u64) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&nr.to_le_bytes());
        d[4..8].copy_from_slice(&0xc000_003eu32.to_le_bytes());
        d[16..24].copy_from_slice(&arg0.to_le_bytes());
        d
    }

    fn checked_run(p: &[Insn], d: &[u8; 64]) -> u32 {
        assert!(check(p), "refused: {p:?}");
        run(p, d)
    }

    #[test]
    fn loads_compare_and_return() {
        let p = [
            stmt(LD | W | ABS, 0),
            jump(JMP | JEQ | K, 39, 0, 1),
            stmt(RET | K, 0x0005_0001),
            stmt(LD | W | ABS, 4),
            stmt(RET | A, 0),
        ];
        assert_eq!(checked_run(&p, &data(39, 0)), 0x0005_0001);
        assert_eq!(checked_run(&p, &data(40, 0)), 0xc000_003e);
    }

    #[test]
    fn every_alu_operation() {
        let cases: [(u16, u32, u32); 10] = [
            (ADD, 7, 107),
            (SUB, 7, 93),
            (MUL, 3, 300),
            (DIV, 7, 14),
            (AND, 0x0f, 4),
            (OR, 0x03, 103),
            (XOR, 0xff, 0x9b),
            (LSH, 4, 1600),
            (RSH, 2, 25),
            (NEG, 0, 100u32.wrapping_neg()),
        ];
        for (op, k, want) in cases {
            let by_k = [stmt(LD | IMM, 100), stmt(ALU | op | K, k), stmt(RET | A, 0)];
            assert_eq!(checked_run(&by_k, &data(0, 0)), want, "op {op:#x} K");
            if op != NEG {
                let by_x = [stmt(LDX | IMM, k), stmt(LD | IMM, 100), stmt(ALU | op | X, 0), stmt(RET | A, 0)];
                assert_eq!(checked_run(&by_x, &data(0, 0)), want, "op {op:#x} X");
            }
        }
    }

    #[test]
    fn division_by_a_zero_x_returns_zero() {
        let p = [stmt(LD | IMM, 5), stmt(ALU | DIV | X, 0), stmt(RET | K, 0x7fff_0000)];
        assert_eq!(checked_run(&p, &data(0, 0)), 0);
    }

    #[test]
    fn jumps_scratch_and_registers() {
        let p = [
            stmt(LD | W | ABS, 16),       // arg0, low word
            stmt(ST, 3),                  // M[3] = A
            stmt(MISC | TAX, 0),          // X = A
            stmt(LD | IMM, 8),            // A = 8
            jump(JMP | JGT | X, 0, 0, 2), // A > X ?
            stmt(LDX | MEM, 3),
            stmt(MISC | TXA, 0),
            jump(JMP | JSET | K, 0x1, 0, 1),
            stmt(RET | K, 1),
            jump(JMP | JGE | K, 8, 0, 1),
            stmt(JMP | JA, 1),
            stmt(RET | K, 2),
            stmt(LD | W | LEN, 0),
            stmt(RET | A, 0),
        ];
        assert_eq!(checked_run(&p, &data(0, 3)), 1); // 8 > 3, A=3 odd
        assert_eq!(checked_run(&p, &data(0, 4)), 2); // A=4 even, 4 < 8
        assert_eq!(checked_run(&p, &data(0, 9)), 64); // 8 <= 9: A=8 even, 8 >= 8: ja → len
    }

    #[test]
    fn bad_programs_are_refused() {
        let ret = stmt(RET | K, 0);
        let bad: Vec<Vec<Insn>> = vec![
            vec![],
            vec![ret; MAX_INSNS + 1],
            vec![stmt(LD | IMM, 0)],           // no RET at the end
            vec![stmt(LD | W | ABS, 2), ret],  // unaligned
            vec![stmt(LD | W | ABS, 64), ret], // past the data
            vec![stmt(LD | H | ABS, 0), ret],  // half-word load
            vec![stmt(LD | B | ABS, 0), ret],  // byte load
            vec![stmt(LD | W | IND, 0), ret],  // indirect
            vec![stmt(LDX | B | MSH, 0), ret],
            vec![stmt(ALU | MOD | K, 3), ret], // no MOD in seccomp
            vec![stmt(ALU | DIV | K, 0), ret], // constant zero
            vec![stmt(ALU | LSH | K, 32), ret],
            vec![stmt(LD | MEM, 16), ret], // no such cell
            vec![stmt(LD | MEM, 0), ret],  // never stored
            vec![stmt(JMP | JA, 1), ret],  // past the end
            vec![jump(JMP | JEQ | K, 0, 1, 0), ret],
            vec![jump(JMP | JEQ | K, 0, 0, 0), ret, stmt(0xffff, 0)],
            vec![stmt(0x0006 | 0x20, 0)], // unknown RET kind
            // A cell stored on one path only.
            vec![jump(JMP | JEQ | K, 0, 0, 1), stmt(ST, 0), stmt(LD | MEM, 0), ret],
        ];
        for p in &bad {
            assert!(!check(p), "accepted: {p:?}");
        }
        // A cell stored before the branch, or on both paths, may be read.
        assert!(check(&[stmt(ST, 0), jump(JMP | JEQ | K, 0, 0, 1), stmt(ST, 1), stmt(LD | MEM, 0), ret]));
        assert!(check(&[
            jump(JMP | JEQ | K, 0, 0, 2),
            stmt(ST, 0),
            stmt(JMP | JA, 1),
            stmt(STX, 0),
            stmt(LDX | MEM, 0),
            ret
        ]));
        assert!(check(&vec![ret; MAX_INSNS]));
    }

    #[test]
    fn the_interpreter_survives_any_program() {
        // Unchecked programs too: no panic, no endless loop.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let p: Vec<Insn> = (0..8)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    Insn::from_bytes(seed.to_le_bytes())
                })
                .collect();
            let _ = check(&p);
            let _ = run(&p, &data(1, 2));
        }
    }
}
