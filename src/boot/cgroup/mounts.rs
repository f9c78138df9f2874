//! Where the host's cgroup hierarchies are: the cgroup (v1) and cgroup2
//! mounts of `/proc/self/mountinfo`, this process's own cgroup in each
//! (`/proc/self/cgroup`), and the checked cgroup paths the rest of the
//! module joins onto them. Pure parsing, so it is tested on text.

use std::path::PathBuf;

use super::CgroupError;

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub point: PathBuf,
    /// The cgroup (in the hierarchy's own terms) the mount shows at `point`;
    /// `/` unless a subtree was bind-mounted.
    pub root: CgroupPath,
    /// v1: the controllers bound to it (`memory`, `cpu`, …; `name=…`
    /// hierarchies have none). Empty for cgroup2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Mount {
    /// The directory of cgroup `path` of this hierarchy.
    pub fn dir_of(&self, path: &CgroupPath) -> Result<PathBuf, CgroupError> {
        let rest = path.strip_prefix(&self.root).ok_or_else(|| {
            CgroupError::BadPath(path.to_string(), "it is outside the part of the hierarchy mounted here")
        })?;
        Ok(rest.iter().fold(self.point.clone(), |p, c| p.join(c)))
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A cgroup's place in its hierarchy: absolute, normalized, each component
/// a plain name (no `.`, `..` or empty part), so joining it to a mount point
/// can never leave the hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupPath(Vec<String>);

impl CgroupPath {
    pub fn root() -> CgroupPath {
        CgroupPath(Vec::new())
    }

    /// Parse an absolute path; relative ones are joined to a base with
    /// [`CgroupPath::join`].
    pub fn parse_absolute(s: &str) -> Result<CgroupPath, CgroupError> {
        if !s.starts_with('/') {
            return Err(CgroupError::BadPath(s.to_owned(), "expected an absolute path"));
        }
        CgroupPath::root().join(s)
    }

    /// `self` followed by the components of `rel` (a leading `/` is ignored).
    pub fn join(&self, rel: &str) -> Result<CgroupPath, CgroupError> {
        let mut parts = self.0.clone();
        for c in rel.split('/').filter(|c| !c.is_empty()) {
            if c == "." || c == ".." {
                return Err(CgroupError::BadPath(rel.to_owned(), "`.` and `..` are not allowed"));
            }
            if c.contains('\0') || c.len() > 255 {
                return Err(CgroupError::BadPath(rel.to_owned(), "a component is not a valid name"));
            }
            parts.push(c.to_owned());
        }
        Ok(CgroupPath(parts))
    }

    pub fn parent(&self) -> CgroupPath {
        CgroupPath(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Each ancestor from the root down to `self`'s parent.
    pub fn ancestors(&self) -> impl Iterator<Item = CgroupPath> + '_ {
        (0..self.0.len()).map(|n| CgroupPath(self.0[..n].to_vec()))
    }

    /// The components after `prefix`, if `self` is `prefix` or below it.
    fn strip_prefix(&self, prefix: &CgroupPath) -> Option<&[String]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }
}

impl std::fmt::Display for CgroupPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for c in &self.0 {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// The cgroup mounts in a `mountinfo` text.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mount_line).collect()
}

fn parse_mount_line(line: &str) -> Option<Mount> {
    // id parent major:minor root point options [optional…] - fstype source super
    let (left, right) = line.split_once(" - ")?;
    let left: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    let (root, point) = (left.get(3)?, left.get(4)?);
    let (fstype, options) = (right.first()?, right.get(2).copied().unwrap_or(""));
    let v2 = match *fstype {
        "cgroup2" => true,
        "cgroup" => false,
        _ => return None,
    };
    let controllers = match v2 {
        true => Vec::new(),
        false => options
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
            .filter(|o| !matches!(*o, "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode"))
            .map(str::to_owned)
            .collect(),
    };
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        root: CgroupPath::parse_absolute(&unescape(root)).ok()?,
        controllers,
        v2,
    })
}

/// Undo mountinfo's octal escapes (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal =
            b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroups, from `/proc/self/cgroup`: for each line, the
/// controllers of a v1 hierarchy (empty with `v2` for the unified one)
/// and the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub controllers: Vec<String>,
    pub v2: bool,
    pub path: CgroupPath,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ':');
            let (id, list, path) = (f.next()?, f.next()?, f.next()?);
            let v2 = id == "0" && list.is_empty();
            let controllers =
                list.split(',').filter(|c| !c.is_empty() && !c.contains('=')).map(str::to_owned);
            Some(Membership {
                controllers: controllers.collect(),
                v2,
                path: CgroupPath::parse_absolute(path).ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HYBRID: &str = "\
24 1 0:22 / /sys rw,nosuid - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
36 30 0:32 /inner /mnt/my\\040pids rw - cgroup cgroup rw,pids
";

    #[test]
    fn mountinfo_finds_v1_and_v2_hierarchies() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.len(), 5);
        assert!(m[0].v2 && m[0].controllers.is_empty());
        assert_eq!(m[0].point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(m[1].controllers, ["cpu", "cpuacct"]);
        assert!(m[1].has("cpuacct") && !m[1].has("memory"));
        assert!(m[3].controllers.is_empty(), "name= hierarchies bind no controller");
        assert_eq!(m[4].point, Path::new("/mnt/my pids"));
        assert_eq!(m[4].root.to_string(), "/inner");
    }

    #[test]
    fn dir_of_joins_below_the_mount_root() {
        let m = &parse_mountinfo(HYBRID)[4];
        let p = CgroupPath::parse_absolute("/inner/sandbox/do-1").unwrap();
        assert_eq!(m.dir_of(&p).unwrap(), Path::new("/mnt/my pids/sandbox/do-1"));
        let outside = CgroupPath::parse_absolute("/other").unwrap();
        assert!(matches!(m.dir_of(&outside), Err(CgroupError::BadPath(..))));
    }

    #[test]
    fn paths_are_normalized_and_confined() {
        let base = CgroupPath::parse_absolute("/a//b/").unwrap();
        assert_eq!(base.to_string(), "/a/b");
        assert_eq!(base.join("c/d").unwrap().to_string(), "/a/b/c/d");
        assert_eq!(base.parent().to_string(), "/a");
        assert_eq!(CgroupPath::root().parent().to_string(), "/");
        assert!(base.join("../x").is_err());
        assert!(base.join("./x").is_err());
        assert!(CgroupPath::parse_absolute("rel").is_err());
        let anc: Vec<String> = base.join("c").unwrap().ancestors().map(|p| p.to_string()).collect();
        assert_eq!(anc, ["/", "/a", "/a/b"]);
    }

    #[test]
    fn proc_cgroup_lines() {
        let m =
            parse_proc_cgroup("9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(m.len(), 4);
        assert!(m[0].controllers.is_empty() && !m[0].v2);
        assert_eq!(m[1].controllers, ["memory"]);
        assert_eq!(m[1].path.to_string(), "/process_api/x");
        assert_eq!(m[2].controllers, ["cpu", "cpuacct"]);
        assert!(m[3].v2);
        assert_eq!(m[3].path.to_string(), "/user.slice");
    }
}
