//! The change an edit makes, shown as one hunk: the lines before and after
//! that differ, between the longest common leading and trailing lines.
//! (Every edit here adds or removes one block, so one hunk shows it.)

/// The differing lines of `before` and `after`, `-`/`+` prefixed.
pub fn hunk(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let tail = old[head..].iter().rev().zip(new[head..].iter().rev()).take_while(|(a, b)| a == b).count();
    let mut out = String::new();
    for l in &old[head..old.len() - tail] {
        out.push_str(&format!("- {l}\n"));
    }
    for l in &new[head..new.len() - tail] {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_changed_block_is_shown() {
        assert_eq!(hunk("a\nb\nc\n", "a\nb\nx\ny\nc\n"), "+ x\n+ y\n");
        assert_eq!(hunk("a\nx\nc\n", "a\nc\n"), "- x\n");
        assert_eq!(hunk("", "a\n"), "+ a\n");
        assert_eq!(hunk("a\n", "a\n"), "");
        assert_eq!(hunk("a\na\n", "a\n"), "- a\n");
    }
}
