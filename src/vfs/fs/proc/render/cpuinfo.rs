//! `/proc/cpuinfo`: one block per CPU, from the host processor's `cpuid`
//! (the application runs on it and sees the same `cpuid`). The flags are
//! the ones `cpuid` reports directly, less those the host kernel turned
//! off (its own `/proc/cpuinfo`, read once before the sentry confines
//! itself: [`learn_kernel_flags`]); Linux's synthetic flags
//! (`constant_tsc`, `rep_good`…) are left out rather than guessed.

use std::sync::OnceLock;

use super::put;

/// The flags the host kernel's `/proc/cpuinfo` shows; `None` if it could
/// not be read.
static KERNEL_FLAGS: OnceLock<Option<Vec<String>>> = OnceLock::new();

/// Read the host kernel's flags now, while its `/proc` is visible. A
/// feature `cpuid` reports may be off in the kernel (RDSEED where it is
/// unreliable, on some AMD processors), and Linux's `/proc/cpuinfo` then
/// leaves it out; so does ours.
pub fn learn_kernel_flags() {
    KERNEL_FLAGS.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        let line = text.lines().find(|l| l.split(':').next().is_some_and(|k| k.trim_end() == "flags"))?;
        Some(line.split_once(':')?.1.split_whitespace().map(str::to_owned).collect())
    });
}

/// Whether `flag` is one the kernel shows (any, if unknown).
fn kernel_shows(kernel: Option<&[String]>, flag: &str) -> bool {
    kernel.is_none_or(|k| k.iter().any(|f| f == flag))
}

/// What `cpuid` says about the processor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuId {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub model_name: String,
    pub cpuid_level: u32,
    pub clflush_size: u32,
    pub phys_bits: u32,
    pub virt_bits: u32,
    pub flags: Vec<&'static str>,
}

/// Where a feature bit is: leaf, subleaf, register (0 eax, 1 ebx, 2 ecx,
/// 3 edx), bit.
type Bit = (u32, u32, u8, u8);

/// Linux's names for `cpuid` feature bits, in Linux's order.
const FLAGS: &[(&str, Bit)] = &[
    ("fpu", (1, 0, 3, 0)),
    ("vme", (1, 0, 3, 1)),
    ("de", (1, 0, 3, 2)),
    ("pse", (1, 0, 3, 3)),
    ("tsc", (1, 0, 3, 4)),
    ("msr", (1, 0, 3, 5)),
    ("pae", (1, 0, 3, 6)),
    ("mce", (1, 0, 3, 7)),
    ("cx8", (1, 0, 3, 8)),
    ("apic", (1, 0, 3, 9)),
    ("sep", (1, 0, 3, 11)),
    ("mtrr", (1, 0, 3, 12)),
    ("pge", (1, 0, 3, 13)),
    ("mca", (1, 0, 3, 14)),
    ("cmov", (1, 0, 3, 15)),
    ("pat", (1, 0, 3, 16)),
    ("pse36", (1, 0, 3, 17)),
    ("clflush", (1, 0, 3, 19)),
    ("mmx", (1, 0, 3, 23)),
    ("fxsr", (1, 0, 3, 24)),
    ("sse", (1, 0, 3, 25)),
    ("sse2", (1, 0, 3, 26)),
    ("ss", (1, 0, 3, 27)),
    ("ht", (1, 0, 3, 28)),
    ("syscall", (0x8000_0001, 0, 3, 11)),
    ("nx", (0x8000_0001, 0, 3, 20)),
    ("mmxext", (0x8000_0001, 0, 3, 22)),
    ("fxsr_opt", (0x8000_0001, 0, 3, 25)),
    ("pdpe1gb", (0x8000_0001, 0, 3, 26)),
    ("rdtscp", (0x8000_0001, 0, 3, 27)),
    ("lm", (0x8000_0001, 0, 3, 29)),
    ("pni", (1, 0, 2, 0)),
    ("pclmulqdq", (1, 0, 2, 1)),
    ("monitor", (1, 0, 2, 3)),
    ("vmx", (1, 0, 2, 5)),
    ("ssse3", (1, 0, 2, 9)),
    ("fma", (1, 0, 2, 12)),
    ("cx16", (1, 0, 2, 13)),
    ("pcid", (1, 0, 2, 17)),
    ("sse4_1", (1, 0, 2, 19)),
    ("sse4_2", (1, 0, 2, 20)),
    ("x2apic", (1, 0, 2, 21)),
    ("movbe", (1, 0, 2, 22)),
    ("popcnt", (1, 0, 2, 23)),
    ("tsc_deadline_timer", (1, 0, 2, 24)),
    ("aes", (1, 0, 2, 25)),
    ("xsave", (1, 0, 2, 26)),
    ("avx", (1, 0, 2, 28)),
    ("f16c", (1, 0, 2, 29)),
    ("rdrand", (1, 0, 2, 30)),
    ("hypervisor", (1, 0, 2, 31)),
    ("lahf_lm", (0x8000_0001, 0, 2, 0)),
    ("cmp_legacy", (0x8000_0001, 0, 2, 1)),
    ("svm", (0x8000_0001, 0, 2, 2)),
    ("extapic", (0x8000_0001, 0, 2, 3)),
    ("cr8_legacy", (0x8000_0001, 0, 2, 4)),
    ("abm", (0x8000_0001, 0, 2, 5)),
    ("sse4a", (0x8000_0001, 0, 2, 6)),
    ("misalignsse", (0x8000_0001, 0, 2, 7)),
    ("3dnowprefetch", (0x8000_0001, 0, 2, 8)),
    ("osvw", (0x8000_0001, 0, 2, 9)),
    ("xop", (0x8000_0001, 0, 2, 11)),
    ("fma4", (0x8000_0001, 0, 2, 16)),
    ("tbm", (0x8000_0001, 0, 2, 21)),
    ("topoext", (0x8000_0001, 0, 2, 22)),
    ("fsgsbase", (7, 0, 1, 0)),
    ("tsc_adjust", (7, 0, 1, 1)),
    ("bmi1", (7, 0, 1, 3)),
    ("hle", (7, 0, 1, 4)),
    ("avx2", (7, 0, 1, 5)),
    ("smep", (7, 0, 1, 7)),
    ("bmi2", (7, 0, 1, 8)),
    ("erms", (7, 0, 1, 9)),
    ("invpcid", (7, 0, 1, 10)),
    ("rtm", (7, 0, 1, 11)),
    ("avx512f", (7, 0, 1, 16)),
    ("avx512dq", (7, 0, 1, 17)),
    ("rdseed", (7, 0, 1, 18)),
    ("adx", (7, 0, 1, 19)),
    ("smap", (7, 0, 1, 20)),
    ("avx512ifma", (7, 0, 1, 21)),
    ("clflushopt", (7, 0, 1, 23)),
    ("clwb", (7, 0, 1, 24)),
    ("avx512cd", (7, 0, 1, 28)),
    ("sha_ni", (7, 0, 1, 29)),
    ("avx512bw", (7, 0, 1, 30)),
    ("avx512vl", (7, 0, 1, 31)),
    ("xsaveopt", (0xd, 1, 0, 0)),
    ("xsavec", (0xd, 1, 0, 1)),
    ("xgetbv1", (0xd, 1, 0, 2)),
    ("xsaves", (0xd, 1, 0, 3)),
    ("avx_vnni", (7, 1, 0, 4)),
    ("avx512_bf16", (7, 1, 0, 5)),
    ("clzero", (0x8000_0008, 0, 1, 0)),
    ("xsaveerptr", (0x8000_0008, 0, 1, 2)),
    ("arat", (6, 0, 0, 2)),
    ("avx512vbmi", (7, 0, 2, 1)),
    ("umip", (7, 0, 2, 2)),
    ("pku", (7, 0, 2, 3)),
    ("avx512_vbmi2", (7, 0, 2, 6)),
    ("gfni", (7, 0, 2, 8)),
    ("vaes", (7, 0, 2, 9)),
    ("vpclmulqdq", (7, 0, 2, 10)),
    ("avx512_vnni", (7, 0, 2, 11)),
    ("avx512_bitalg", (7, 0, 2, 12)),
    ("avx512_vpopcntdq", (7, 0, 2, 14)),
    // la57 is left out: Linux clears it unless it runs with 5-level
    // paging, and the sandbox gives programs a 4-level (47-bit) space.
    ("rdpid", (7, 0, 2, 22)),
    ("movdiri", (7, 0, 2, 27)),
    ("movdir64b", (7, 0, 2, 28)),
    ("fsrm", (7, 0, 3, 4)),
    ("avx512_vp2intersect", (7, 0, 3, 8)),
    ("md_clear", (7, 0, 3, 10)),
    ("serialize", (7, 0, 3, 14)),
    ("amx_bf16", (7, 0, 3, 22)),
    ("avx512_fp16", (7, 0, 3, 23)),
    ("amx_tile", (7, 0, 3, 24)),
    ("amx_int8", (7, 0, 3, 25)),
];

impl CpuId {
    /// The host processor, as `cpuid` describes it.
    #[cfg(target_arch = "x86_64")]
    pub fn host() -> CpuId {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        let max = __cpuid(0).eax;
        let max_ext = __cpuid(0x8000_0000).eax;
        let regs = |leaf: u32, sub: u32| -> Option<[u32; 4]> {
            let supported = if leaf >= 0x8000_0000 { leaf <= max_ext } else { leaf <= max };
            supported.then(|| {
                let r = __cpuid_count(leaf, sub);
                [r.eax, r.ebx, r.ecx, r.edx]
            })
        };
        let word = |w: u32| w.to_le_bytes();
        let v = __cpuid(0);
        let vendor = [word(v.ebx), word(v.edx), word(v.ecx)].concat();
        let sig = __cpuid(1);
        let base_family = (sig.eax >> 8) & 0xf;
        let family = if base_family == 0xf { base_family + ((sig.eax >> 20) & 0xff) } else { base_family };
        let mut model = (sig.eax >> 4) & 0xf;
        if family >= 6 {
            model += ((sig.eax >> 16) & 0xf) << 4;
        }
        let brand: Vec<u8> = (0x8000_0002..=0x8000_0004)
            .filter_map(|leaf| regs(leaf, 0))
            .flat_map(|r| r.into_iter().flat_map(u32::to_le_bytes))
            .filter(|&b| b != 0)
            .collect();
        let sizes = regs(0x8000_0008, 0).map_or((0, 0), |r| (r[0] & 0xff, (r[0] >> 8) & 0xff));
        let flags = FLAGS
            .iter()
            .filter(|(_, (leaf, sub, reg, bit))| {
                regs(*leaf, *sub).is_some_and(|r| r[*reg as usize] >> bit & 1 == 1)
            })
            .map(|(name, _)| *name)
            .filter(|name| kernel_shows(KERNEL_FLAGS.get().and_then(Option::as_deref), name))
            .collect();
        CpuId {
            vendor: String::from_utf8_lossy(&vendor).into_owned(),
            family,
            model,
            stepping: sig.eax & 0xf,
            model_name: String::from_utf8_lossy(&brand).trim().to_owned(),
            cpuid_level: max,
            clflush_size: ((sig.ebx >> 8) & 0xff) * 8,
            phys_bits: sizes.0,
            virt_bits: sizes.1,
            flags,
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn host() -> CpuId {
        CpuId::default()
    }
}

/// `/proc/cpuinfo` for `ncpus` CPUs of kind `cpu`; `mhz` 0 leaves out the
/// clock (and `bogomips`, which Linux derives from it).
pub fn cpuinfo(cpu: &CpuId, ncpus: u32, mhz: f64) -> Vec<u8> {
    let ncpus = ncpus.max(1);
    let mut out = Vec::with_capacity(ncpus as usize * 1600);
    for i in 0..ncpus {
        put!(&mut out, "processor\t: {i}\nvendor_id\t: {}\n", cpu.vendor);
        put!(&mut out, "cpu family\t: {}\nmodel\t\t: {}\n", cpu.family, cpu.model);
        put!(&mut out, "model name\t: {}\nstepping\t: {}\n", cpu.model_name, cpu.stepping);
        if mhz > 0.0 {
            put!(&mut out, "cpu MHz\t\t: {mhz:.3}\n");
        }
        put!(&mut out, "physical id\t: 0\nsiblings\t: {ncpus}\ncore id\t\t: {i}\ncpu cores\t: {ncpus}\n");
        put!(&mut out, "apicid\t\t: {i}\ninitial apicid\t: {i}\n");
        put!(
            &mut out,
            "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\n",
            cpu.cpuid_level
        );
        put!(&mut out, "flags\t\t: {}\n", cpu.flags.join(" "));
        if mhz > 0.0 {
            put!(&mut out, "bogomips\t: {:.2}\n", mhz * 2.0);
        }
        put!(&mut out, "clflush size\t: {0}\ncache_alignment\t: {0}\n", cpu.clflush_size);
        put!(&mut out, "address sizes\t: {} bits physical, {} bits virtual\n", cpu.phys_bits, cpu.virt_bits);
        put!(&mut out, "power management:\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(block: &'a str, key: &str) -> Option<&'a str> {
        block
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim_end() == key).map(|(_, v)| v.trim()))
    }

    #[test]
    fn host_cpu_agrees_with_this_machines_cpuinfo() {
        learn_kernel_flags();
        let ours = String::from_utf8(cpuinfo(&CpuId::host(), 2, 0.0)).unwrap();
        let host = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let (ours0, host0) = (ours.split("\n\n").next().unwrap(), host.split("\n\n").next().unwrap());
        for key in
            ["vendor_id", "cpu family", "model", "model name", "stepping", "cpuid level", "address sizes"]
        {
            assert_eq!(value(ours0, key), value(host0, key), "{key}");
        }
        // Every flag we report, the host kernel reports too.
        let host_flags: Vec<&str> = value(host0, "flags").unwrap().split(' ').collect();
        for f in value(ours0, "flags").unwrap().split(' ') {
            assert!(host_flags.contains(&f), "{f}");
        }
        // Our keys are written exactly as Linux writes them (tabs and all).
        for line in ours0.lines() {
            let key = line.split(':').next().unwrap();
            assert!(host0.lines().any(|l| l.split(':').next() == Some(key)), "{line:?}");
        }
    }

    #[test]
    fn a_flag_the_kernel_turned_off_is_left_out() {
        let kernel = ["fpu".to_owned(), "sse".to_owned()];
        assert!(kernel_shows(Some(&kernel), "sse"));
        assert!(!kernel_shows(Some(&kernel), "rdseed"));
        assert!(kernel_shows(None, "rdseed"), "unknown: cpuid decides");
    }

    #[test]
    fn one_block_per_cpu() {
        let text = String::from_utf8(cpuinfo(&CpuId::default(), 3, 2596.128)).unwrap();
        assert_eq!(text.matches("processor\t: ").count(), 3);
        assert!(text.contains("processor\t: 2\n"));
        assert!(text.contains("cpu MHz\t\t: 2596.128\n"));
        assert!(text.contains("bogomips\t: 5192.26\n"));
        assert!(text.ends_with("power management:\n\n"));
    }
}
