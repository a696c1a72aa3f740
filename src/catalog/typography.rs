//! French typography, applied once when course text is loaded rather than by hand in every
//! file: the space before « ; », « ! », « ? » becomes a narrow no-break space, the space
//! before « : » and inside « » a no-break space, so that a line never starts with a lone
//! punctuation mark. Only existing spaces are changed: URLs and times (`10:30`) stay as
//! they are.

/// No-break space (before `:` and inside guillemets).
pub const NBSP: char = '\u{a0}';
/// Narrow no-break space (before `;`, `!`, `?`).
pub const NNBSP: char = '\u{202f}';

/// Applies the French spacing rules to a piece of plain text.
pub fn french(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let replacement = match (c, prev, next) {
            (' ', _, Some(';' | '!' | '?')) => NNBSP,
            (' ', _, Some(':' | '»')) => NBSP,
            (' ', Some('«'), _) => NBSP,
            _ => c,
        };
        out.push(replacement);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_before_high_punctuation_and_inside_guillemets_do_not_break() {
        assert_eq!(
            french("Que faites-vous ? Rien ; « oui » : non !"),
            "Que faites-vous\u{202f}? Rien\u{202f}; «\u{a0}oui\u{a0}»\u{a0}: non\u{202f}!"
        );
    }

    #[test]
    fn urls_times_and_text_without_spaces_are_left_alone() {
        for s in ["https://www.antidiscriminations.fr", "à 10:30", "Quoi?", ""] {
            assert_eq!(french(s), s);
        }
    }

    #[test]
    fn applying_twice_changes_nothing_more() {
        let once = french("Vrai ou faux : « jamais » ?");
        assert_eq!(french(&once), once);
    }
}
