//! `/proc/PID/maps`: which file is mapped where, so a program counter can be turned into a
//! module and a module-relative address.

use std::path::Path;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Readable.
    pub read: bool,
    /// Executable.
    pub exec: bool,
    /// Offset of `start` in the mapped file.
    pub offset: u64,
    /// Device (`major:minor`, as the kernel prints it).
    pub dev: String,
    /// Inode (0 for anonymous mappings).
    pub inode: u64,
    /// Path, pseudo-name (`[stack]`, `[vdso]`) or empty; a `" (deleted)"` suffix is kept.
    pub path: String,
}

impl Mapping {
    /// Whether the mapping names a file on disk (not anonymous, not a pseudo-mapping).
    pub fn is_file(&self) -> bool {
        self.inode != 0 && self.path.starts_with('/')
    }

    /// Whether the file behind it was deleted after being mapped.
    pub fn is_deleted(&self) -> bool {
        self.path.ends_with(" (deleted)")
    }
}

/// Parses the text of `/proc/PID/maps`; lines that do not parse are skipped.
pub fn parse_maps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = text.lines().filter_map(parse_line).collect();
    out.sort_by_key(|m| m.start);
    out
}

fn parse_line(line: &str) -> Option<Mapping> {
    // address perms offset dev inode [path]; the path may contain spaces, so split the first five
    // fields off by hand.
    let mut rest = line;
    let mut field = || {
        let t = rest.trim_start();
        let end = t.find(' ').unwrap_or(t.len());
        let (f, r) = t.split_at(end);
        rest = r;
        f
    };
    let range = field();
    let perms = field();
    let offset = field();
    let dev = field().to_string();
    let inode = field();
    let path = rest.trim_start().to_string();
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    if end <= start || perms.len() < 3 {
        return None;
    }
    let p = perms.as_bytes();
    Some(Mapping {
        start,
        end,
        read: p[0] == b'r',
        exec: p[2] == b'x',
        offset: u64::from_str_radix(offset, 16).ok()?,
        dev,
        inode: inode.parse().ok()?,
        path,
    })
}

/// Reads and parses `/proc/PID/maps`.
pub fn read_maps(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("maps"))?;
    Ok(parse_maps(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
55d1c8a00000-55d1c8a05000 r--p 00000000 08:01 1311 /usr/bin/app
55d1c8a05000-55d1c8a20000 r-xp 00005000 08:01 1311 /usr/bin/app
7f00aa000000-7f00aa100000 r-xp 00028000 fd:00 777 /opt/my lib/libx.so (deleted)
7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]
7ffd1c1f0000-7ffd1c1f2000 r-xp 00000000 00:00 0                          [vdso]
garbage line
";

    #[test]
    fn parses_fields_paths_with_spaces_and_pseudo_mappings() {
        let m = parse_maps(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(
            m[1],
            Mapping {
                start: 0x55d1c8a05000,
                end: 0x55d1c8a20000,
                read: true,
                exec: true,
                offset: 0x5000,
                dev: "08:01".into(),
                inode: 1311,
                path: "/usr/bin/app".into(),
            }
        );
        assert!(m[1].is_file() && !m[1].is_deleted());
        assert_eq!(m[2].path, "/opt/my lib/libx.so (deleted)");
        assert!(m[2].is_deleted());
        assert_eq!(m[3].path, "[stack]");
        assert!(!m[3].is_file() && !m[3].exec);
        assert_eq!(m[4].path, "[vdso]");
        assert!(m[4].exec && !m[4].is_file());
    }

    #[test]
    fn own_maps_contain_this_test_function() {
        let maps = read_maps(std::process::id() as i32).unwrap();
        let pc = own_maps_contain_this_test_function as fn() as usize as u64;
        let m = maps.iter().find(|m| m.start <= pc && pc < m.end).unwrap();
        assert!(m.exec);
        assert_eq!(
            std::fs::canonicalize(&m.path).unwrap(),
            std::fs::canonicalize(std::env::current_exe().unwrap()).unwrap()
        );
    }
}
