//! The initial stack of a new program, laid out as Linux's `execve` leaves
//! it on x86-64. From the top down: the executable's name (`AT_EXECFN`), the
//! environment and argument strings, the platform string, 16 random bytes
//! (`AT_RANDOM`); then, 16-byte aligned at the stack pointer: `argc`, the
//! `argv` pointers and NULL, the `envp` pointers and NULL, and the auxiliary
//! vector ending in `AT_NULL`. (Whether the arguments are within Linux's
//! limits is decided before, when exec prepares them: see `exec`.)

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StackError {
    #[error("the initial stack does not fit in the stack region")]
    TooBig,
}

/// What goes on the stack.
pub struct StackSpec<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub platform: &'a [u8],
    pub random: [u8; 16],
    /// Auxiliary vector entries; `AT_RANDOM`, `AT_EXECFN`, `AT_PLATFORM` and
    /// the closing `AT_NULL` are added here.
    pub auxv: &'a [(u64, u64)],
}

/// The bytes of the initial stack, to be copied to `[sp, top)`.
pub struct StackImage {
    pub sp: u64,
    pub bytes: Vec<u8>,
    /// The auxiliary vector, as its words lie on the stack.
    pub auxv: Vec<u8>,
}

/// Builds the image downwards from `top`, tracking application addresses.
struct Builder {
    top: u64,
    /// The image in reverse: `rev[i]` is the byte at `top - 1 - i`.
    rev: Vec<u8>,
}

impl Builder {
    fn addr(&self) -> u64 {
        self.top - self.rev.len() as u64
    }

    /// Push `data` below what is there; returns its address.
    fn push(&mut self, data: &[u8]) -> u64 {
        self.rev.extend(data.iter().rev());
        self.addr()
    }

    /// Push a string with its NUL.
    fn push_str(&mut self, s: &[u8]) -> u64 {
        self.rev.push(0);
        self.push(s)
    }

    /// Pad down to a multiple of `align`.
    fn align(&mut self, align: u64) {
        let pad = self.addr() % align;
        self.rev.resize(self.rev.len() + pad as usize, 0);
    }
}

/// Lay out the stack below `top`, refusing an image larger than `max`
/// bytes (it must leave the program stack to run on).
pub fn build(top: u64, spec: &StackSpec, max: usize) -> Result<StackImage, StackError> {
    let strings = spec.argv.iter().chain(spec.envp);
    let pointers = (spec.argv.len() + spec.envp.len() + 2) * 8 + (spec.auxv.len() + 4) * 16;
    let fixed = spec.execfn.len() + spec.platform.len() + spec.random.len() + 64;
    let total: usize = strings.map(|s| s.len() + 1).sum::<usize>() + pointers + fixed;
    if total > max {
        return Err(StackError::TooBig);
    }

    let mut b = Builder { top, rev: Vec::with_capacity(total + 512) };
    b.push(&[0u8; 8]);
    let execfn = b.push_str(spec.execfn);
    let mut envp: Vec<u64> = spec.envp.iter().rev().map(|s| b.push_str(s)).collect();
    let mut argv: Vec<u64> = spec.argv.iter().rev().map(|s| b.push_str(s)).collect();
    envp.reverse();
    argv.reverse();
    b.align(8);
    let platform = b.push_str(spec.platform);
    b.align(16);
    let random = b.push(&spec.random);

    let mut auxv: Vec<(u64, u64)> = spec.auxv.to_vec();
    auxv.extend([
        (libc::AT_RANDOM, random),
        (libc::AT_EXECFN, execfn),
        (libc::AT_PLATFORM, platform),
        (libc::AT_NULL, 0),
    ]);
    let mut words: Vec<u64> = Vec::with_capacity(1 + argv.len() + envp.len() + 2 + auxv.len() * 2);
    words.push(argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    words.extend(auxv.iter().flat_map(|&(k, v)| [k, v]));
    // argc must land on a 16-byte boundary.
    b.align(16);
    if words.len() % 2 == 1 {
        b.push(&[0u8; 8]);
    }
    let block: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let sp = b.push(&block);
    b.rev.reverse();
    let auxv = auxv.iter().flat_map(|&(k, v)| [k, v]).flat_map(u64::to_le_bytes).collect();
    Ok(StackImage { sp, bytes: b.rev, auxv })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: u64 = 0x7fff_0000_0000;

    fn word(img: &StackImage, addr: u64) -> u64 {
        let o = (addr - img.sp) as usize;
        u64::from_le_bytes(img.bytes[o..o + 8].try_into().unwrap())
    }

    fn string(img: &StackImage, addr: u64) -> Vec<u8> {
        let o = (addr - img.sp) as usize;
        img.bytes[o..].iter().take_while(|&&c| c != 0).copied().collect()
    }

    #[test]
    fn layout_is_what_the_abi_says() {
        let argv = vec![b"prog".to_vec(), b"-x".to_vec(), b"".to_vec()];
        let envp = vec![b"A=1".to_vec()];
        let spec = StackSpec {
            argv: &argv,
            envp: &envp,
            execfn: b"/bin/prog",
            platform: b"x86_64",
            random: [7; 16],
            auxv: &[(libc::AT_PAGESZ, 4096)],
        };
        let img = build(TOP, &spec, 1 << 20).unwrap();
        assert_eq!(img.sp % 16, 0);
        assert_eq!(img.sp + img.bytes.len() as u64, TOP);
        assert_eq!(word(&img, img.sp), 3);
        for (i, a) in argv.iter().enumerate() {
            assert_eq!(&string(&img, word(&img, img.sp + 8 + 8 * i as u64)), a);
        }
        assert_eq!(word(&img, img.sp + 32), 0);
        assert_eq!(string(&img, word(&img, img.sp + 40)), b"A=1");
        assert_eq!(word(&img, img.sp + 48), 0);
        let mut aux = std::collections::HashMap::new();
        let mut at = img.sp + 56;
        loop {
            let (k, v) = (word(&img, at), word(&img, at + 8));
            if k == libc::AT_NULL {
                break;
            }
            aux.insert(k, v);
            at += 16;
        }
        assert_eq!(aux[&libc::AT_PAGESZ], 4096);
        assert_eq!(string(&img, aux[&libc::AT_EXECFN]), b"/bin/prog");
        assert_eq!(string(&img, aux[&libc::AT_PLATFORM]), b"x86_64");
        let r = (aux[&libc::AT_RANDOM] - img.sp) as usize;
        assert_eq!(&img.bytes[r..r + 16], &[7; 16]);
    }

    #[test]
    fn alignment_holds_for_every_argument_count() {
        for n in 0..6 {
            let argv: Vec<Vec<u8>> = (0..n).map(|i| vec![b'a'; i + 1]).collect();
            let spec = StackSpec {
                argv: &argv,
                envp: &[],
                execfn: b"x",
                platform: b"x86_64",
                random: [0; 16],
                auxv: &[],
            };
            let img = build(TOP, &spec, 1 << 20).unwrap();
            assert_eq!(img.sp % 16, 0, "{n} arguments");
            assert_eq!(word(&img, img.sp), n as u64);
        }
    }

    #[test]
    fn an_image_larger_than_the_limit_is_refused() {
        let many: Vec<Vec<u8>> = (0..1000).map(|_| vec![b'y'; 1000]).collect();
        let spec =
            StackSpec { argv: &many, envp: &[], execfn: b"x", platform: b"", random: [0; 16], auxv: &[] };
        assert_eq!(build(TOP, &spec, 100_000).err(), Some(StackError::TooBig));
        let img = build(TOP, &spec, 2 << 20).unwrap();
        assert!(img.bytes.len() < 1_020_000);
    }
}
