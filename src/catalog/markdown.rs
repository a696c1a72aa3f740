//! Lesson Markdown to safe HTML.
//!
//! Raw HTML in a lesson is shown as text, never passed through: course files are reviewed,
//! but a page must not depend on that review for its safety.

use pulldown_cmark::{html, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub(crate) struct LessonDoc {
    pub title: String,
    pub html: String,
    pub minutes: u32,
}

const WORDS_PER_MINUTE: usize = 180;

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION
}

/// Neutralises raw HTML (it becomes visible text, escaped by the renderer) and applies the
/// French spacing rules to running text (not to code or link targets).
fn safe(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Text(s) => Event::Text(super::typography::french(&s).into()),
        other => other,
    }
}

/// Renders Markdown to HTML with raw HTML escaped.
pub fn render_markdown(text: &str) -> String {
    let mut out = String::new();
    html::push_html(&mut out, Parser::new_ext(text, options()).map(safe));
    out
}

/// Splits a lesson into its title (the leading `# ` heading) and its rendered body.
/// Errors carry the 1-based line and a message.
pub(crate) fn parse_lesson(text: &str) -> Result<LessonDoc, (usize, String)> {
    let line_at = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut events = Parser::new_ext(text, options())
        .into_offset_iter()
        .peekable();
    match events.next() {
        Some((
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }),
            _,
        )) => {}
        Some((_, range)) => {
            return Err((
                line_at(range.start),
                "a lesson must start with a level-1 title (# Titre)".into(),
            ))
        }
        None => return Err((1, "the lesson is empty".into())),
    }
    let mut title = String::new();
    for (event, _) in events.by_ref() {
        match event {
            Event::End(TagEnd::Heading(_)) => break,
            Event::Text(t) | Event::Code(t) => title.push_str(&t),
            _ => {}
        }
    }
    let title = super::typography::french(title.trim());
    if title.is_empty() {
        return Err((1, "the lesson title is empty".into()));
    }
    let mut body = Vec::new();
    let mut words = title.split_whitespace().count();
    for (event, range) in events {
        if let Event::Start(Tag::Heading {
            level: HeadingLevel::H1,
            ..
        }) = event
        {
            return Err((
                line_at(range.start),
                "only the lesson title may be a level-1 heading; use ## for sections".into(),
            ));
        }
        if let Event::Text(t) = &event {
            words += t.split_whitespace().count();
        }
        body.push(safe(event));
    }
    let mut out = String::new();
    html::push_html(&mut out, body.into_iter());
    Ok(LessonDoc {
        title,
        html: out,
        minutes: words.div_ceil(WORDS_PER_MINUTE).max(1) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_split_from_the_body_and_html_is_escaped() {
        let doc =
            parse_lesson("# L'accueil\n\nTexte <script>alert(1)</script> ici.\n\n## Partie\n")
                .unwrap();
        assert_eq!(doc.title, "L’accueil");
        assert!(doc.html.contains("&lt;script&gt;"), "{}", doc.html);
        assert!(!doc.html.contains("<script>"));
        assert!(doc.html.contains("<h2>Partie</h2>"));
        assert_eq!(doc.minutes, 1);
    }

    #[test]
    fn running_text_gets_french_spacing_but_code_does_not() {
        let doc = parse_lesson(
            "# Quoi ?\n\nVrai ? « Oui » : voir `a ?` et [lien](https://x.fr/?q=1 \"t\").\n",
        )
        .unwrap();
        assert_eq!(doc.title, "Quoi\u{202f}?");
        assert!(
            doc.html
                .contains("Vrai\u{202f}? «\u{a0}Oui\u{a0}»\u{a0}: voir"),
            "{}",
            doc.html
        );
        assert!(doc.html.contains("<code>a ?</code>"), "{}", doc.html);
        assert!(
            doc.html.contains("href=\"https://x.fr/?q=1\""),
            "{}",
            doc.html
        );
    }

    #[test]
    fn a_second_title_is_refused_with_its_line() {
        let err = parse_lesson("# Un\n\ntexte\n\n# Deux\n").err().unwrap();
        assert_eq!(err.0, 5);
    }
}
