//! "Did you mean …?": the closest of a few known words to a misspelt one.
//!
//! The distance is the optimal-string-alignment edit distance (insertions, deletions,
//! substitutions and swaps of two neighbours each cost one), compared without regard to
//! case, so `nmes`, `life-span`, `need`, `max_count` and `Type` all find their key. A
//! word is only suggested when it is close enough to be a likely typo: at most one edit
//! for words of up to four letters, at most two for longer ones.

/// The known word closest to `word`, when it is close enough to be a likely typo.
/// Ties go to the word listed first.
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (edit_distance(&word, &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal-string-alignment distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows are enough for swaps.
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::lint::ENTRY_KEYS as ENTRY;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("names", "names"), 0);
        assert_eq!(edit_distance("nmes", "names"), 1);
        assert_eq!(edit_distance("nmaes", "names"), 1, "a swap costs one");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_the_likely_key() {
        assert_eq!(did_you_mean("nmes", ENTRY), Some("names"));
        assert_eq!(did_you_mean("life-span", ENTRY), Some("lifespan"));
        assert_eq!(did_you_mean("need", ENTRY), Some("needs"));
        assert_eq!(did_you_mean("max_count", ENTRY), Some("max-count"));
        assert_eq!(did_you_mean("mincount", ENTRY), Some("min-count"));
        assert_eq!(did_you_mean("Type", ENTRY), Some("type"));
        assert_eq!(did_you_mean("name", ENTRY), Some("names"));
        assert_eq!(
            did_you_mean("commnd", &["command", "timeout", "env"]),
            Some("command")
        );
    }

    #[test]
    fn stays_quiet_when_nothing_is_close() {
        assert_eq!(did_you_mean("foo", ENTRY), None);
        assert_eq!(did_you_mean("resorces-extra", &["resources"]), None);
        assert_eq!(did_you_mean("xyz", &["exec"]), None);
    }
}
