//! The training content: the eleven modules of the catalogue keep their shape, so that
//! content cannot silently shrink, and their questions test judgement rather than
//! guessing. Pure file checks, no database.

use std::path::PathBuf;

use reperes::catalog::{self, Audience, Kind};

fn root(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// slug, audiences, validity in months.
const MODULES: &[(&str, &[&str], u32)] = &[
    ("acces-aux-droits", &["social"], 36),
    ("accueil-sans-discrimination", &["accueil"], 24),
    (
        "accueillir-les-personnes-handicapees",
        &["accueil", "tous"],
        24,
    ),
    ("comprendre-les-discriminations", &["tous"], 36),
    (
        "egalite-professionnelle",
        &["rh", "encadrement", "tous"],
        24,
    ),
    (
        "jeunesse-sport-culture",
        &["accueil", "partenaire", "tous"],
        36,
    ),
    (
        "logement-sans-discrimination",
        &["social", "partenaire", "accueil"],
        36,
    ),
    ("recruter-sans-discriminer", &["rh", "encadrement"], 24),
    ("reperer-et-orienter", &["social", "partenaire"], 36),
    ("sexisme-et-harcelement", &["tous"], 36),
    ("stereotypes-et-prejuges", &["tous", "partenaire"], 36),
];

#[test]
fn the_catalogue_holds_the_eleven_modules_with_their_counts() {
    let catalog = catalog::load(&root("courses")).unwrap_or_else(|problems| {
        panic!(
            "invalid catalogue:\n{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    let slugs: Vec<&str> = catalog.modules().iter().map(|m| m.slug.as_str()).collect();
    let expected: Vec<&str> = MODULES.iter().map(|m| m.0).collect();
    assert_eq!(slugs, expected);

    for (slug, audiences, validity) in MODULES {
        let m = catalog.get(slug).unwrap();
        let audiences: Vec<Audience> = audiences
            .iter()
            .map(|a| Audience::parse(a).unwrap())
            .collect();
        assert_eq!(m.audiences, audiences, "{slug}: audiences");
        assert_eq!(m.validity_months, *validity, "{slug}: validity");
        assert_eq!(m.pass_mark, 80, "{slug}: pass mark");
        assert!(!m.territorial_axes.is_empty(), "{slug}: territorial axes");

        assert!(
            (3..=6).contains(&m.lessons.len()),
            "{slug}: {} lessons",
            m.lessons.len()
        );
        let reading: u32 = m.lessons.iter().map(|l| l.minutes).sum();
        assert!(
            (20..=40).contains(&reading),
            "{slug}: {reading} minutes of reading"
        );
        assert!(
            m.estimated_minutes >= reading && m.estimated_minutes <= reading + 15,
            "{slug}: estimated {} min for {reading} min of reading",
            m.estimated_minutes
        );
        let last = m.lessons.last().unwrap();
        assert!(
            last.title.starts_with("Pour aller plus loin"),
            "{slug}: last lesson is {:?}",
            last.title
        );
        for source in ["Défenseur des droits", "39 28"] {
            assert!(
                last.html.contains(source),
                "{slug}: sources lesson lacks {source}"
            );
        }

        let questions: Vec<_> = m.quiz.pools.iter().flat_map(|p| &p.questions).collect();
        assert!(
            questions.len() >= 15,
            "{slug}: {} questions",
            questions.len()
        );
        let scenarios = questions
            .iter()
            .filter(|q| q.kind == Kind::Scenario)
            .count();
        assert!(scenarios >= 5, "{slug}: {scenarios} scenarios");
        for kind in [Kind::Single, Kind::Multiple, Kind::TrueFalse] {
            assert!(
                questions.iter().any(|q| q.kind == kind),
                "{slug}: no {kind:?} question"
            );
        }
        let drawn = m.questions_per_attempt();
        assert!(
            (8..=12).contains(&drawn),
            "{slug}: {drawn} questions per attempt"
        );
        for q in &questions {
            for o in &q.options {
                assert!(
                    o.explanation.trim().len() >= 20,
                    "{slug}/{}: option {} explanation too short",
                    q.id,
                    o.id
                );
            }
        }
    }
}

#[test]
fn no_unverified_marker_or_raw_html_reaches_the_content() {
    let modules = std::fs::read_dir(root("courses"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    for entry in modules.flat_map(|m| walk(&m)) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(!text.contains("UNVERIFIED"), "{}", entry.display());
        assert!(!text.contains("<script"), "{}", entry.display());
    }
}

#[test]
fn the_sample_modules_stay_valid() {
    let samples = catalog::load(&root("docs/sample-courses")).expect("samples are valid");
    let kinds: std::collections::HashSet<_> = samples
        .modules()
        .iter()
        .flat_map(|m| {
            m.quiz
                .pools
                .iter()
                .flat_map(|p| p.questions.iter().map(|q| q.kind))
        })
        .map(|k| format!("{k:?}"))
        .collect();
    assert_eq!(kinds.len(), 4, "every question kind is shown: {kinds:?}");
}

// ---- Questions that test judgement rather than guessing ---------------------------------
//
// The same measures as the review that asked for them: an answer must not be guessable from
// its length, from absolute words, or from a habit in the number of right answers.

/// Words that make a true/false statement sound false to a guesser.
const ABSOLUTE_WORDS: &[&str] = &[
    "jamais",
    "toujours",
    "aucun",
    "aucune",
    "systématiquement",
    "obligatoirement",
    "uniquement",
    "seul",
    "seule",
    "seuls",
    "seules",
    "tous",
    "toutes",
    "rien",
];
const ABSOLUTE_PHRASES: &[&str] = &["ne peut pas", "ne peuvent pas"];
/// Prompts that ask to recall a figure or a date.
const RECALL_PHRASES: &[&str] = &[
    "combien",
    "quel montant",
    "quelle année",
    "quelle date",
    "quel délai",
    "quelle amende",
    "quelle peine",
    "quel pourcentage",
    "quelle part",
];

/// Lower-case words of a text, joined by single spaces and padded, for whole-word search.
fn words(text: &str) -> String {
    let lower = text.to_lowercase();
    let joined = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    format!(" {joined} ")
}

fn has_any(text: &str, single: &[&str], phrases: &[&str]) -> bool {
    let w = words(text);
    single
        .iter()
        .chain(phrases)
        .any(|p| w.contains(&format!(" {p} ")))
}

/// Whether a right option is the longest (or tied for it).
fn right_is_longest(q: &catalog::Question) -> bool {
    let len = |o: &catalog::Choice| o.text.chars().count();
    let max = q.options.iter().map(len).max().unwrap_or(0);
    q.options.iter().any(|o| o.correct && len(o) == max)
}

#[test]
fn the_questions_test_judgement_rather_than_guessing() {
    let catalog = catalog::load(&root("courses")).expect("valid catalogue");
    let mut problems = Vec::new();
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let (mut absolute_true, mut absolute_false) = (0usize, 0usize);
    let mut right_counts = std::collections::BTreeSet::new();
    for m in catalog.modules() {
        let slug = &m.slug;
        let qs: Vec<_> = m.quiz.pools.iter().flat_map(|p| &p.questions).collect();
        let of = |k: Kind| qs.iter().filter(move |q| q.kind == k);

        for (kind, name) in [
            (Kind::Scenario, "scenarios"),
            (Kind::Single, "single-choice questions"),
        ] {
            let total = of(kind).count();
            let longest: Vec<_> = of(kind)
                .filter(|q| right_is_longest(q))
                .map(|q| q.id.as_str())
                .collect();
            if longest.len() * 3 > total {
                problems.push(format!(
                    "{slug}: the right option is the longest in {} of {total} {name} (a third at most): {longest:?}",
                    longest.len()
                ));
            }
        }

        let (mut t, mut f) = (0usize, 0usize);
        for q in of(Kind::TrueFalse) {
            if has_any(&q.prompt, ABSOLUTE_WORDS, ABSOLUTE_PHRASES) {
                // The loaded « Vrai » option is correct when the statement is true.
                if q.options[0].correct {
                    t += 1
                } else {
                    f += 1
                }
            }
        }
        if t.abs_diff(f) > 1 {
            problems.push(format!(
                "{slug}: absolute words in {t} true and {f} false statements (they must appear about as often)"
            ));
        }
        absolute_true += t;
        absolute_false += f;

        let counts: Vec<usize> = of(Kind::Multiple)
            .map(|q| q.options.iter().filter(|o| o.correct).count())
            .collect();
        right_counts.extend(counts.iter().copied());
        if counts.len() >= 2 && counts.iter().all(|c| *c == counts[0]) {
            problems.push(format!(
                "{slug}: every multiple-choice question has {} right answers (vary them from 1 to 4)",
                counts[0]
            ));
        }
        if counts.iter().any(|c| *c > 4) {
            problems.push(format!(
                "{slug}: more than 4 right answers in a multiple-choice question"
            ));
        }

        let scenarios = of(Kind::Scenario).count();
        let quoting: Vec<_> = of(Kind::Scenario)
            .filter(|q| {
                let s = q.situation.as_deref().unwrap_or("");
                s.contains('«') || s.contains('“') || s.contains('"')
            })
            .map(|q| q.id.as_str())
            .collect();
        if quoting.len() * 2 > scenarios {
            problems.push(format!(
                "{slug}: {} of {scenarios} scenarios quote a remark; at least half must not: {quoting:?}",
                quoting.len()
            ));
        }

        let recall: Vec<_> = qs
            .iter()
            .filter(|q| has_any(&q.prompt, RECALL_PHRASES, &[]))
            .map(|q| q.id.as_str())
            .collect();
        if recall.len() > 2 {
            problems.push(format!(
                "{slug}: {} recall questions on figures or dates (2 at most): {recall:?}",
                recall.len()
            ));
        }

        for q in &qs {
            let key = words(q.situation.as_deref().unwrap_or(&q.prompt));
            if let Some(other) = seen.get(&key) {
                if other != slug {
                    problems.push(format!("{slug}/{}: the same question is in {other}", q.id));
                }
            } else {
                seen.insert(key, slug.clone());
            }
        }
    }
    if absolute_true.abs_diff(absolute_false) > 2 {
        problems.push(format!(
            "catalogue: absolute words in {absolute_true} true and {absolute_false} false statements"
        ));
    }
    for n in 1..=4 {
        if !right_counts.contains(&n) {
            problems.push(format!(
                "catalogue: no multiple-choice question with {n} right answer(s)"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn french_spacing_is_applied_when_the_catalogue_is_loaded() {
    let catalog = catalog::load(&root("courses")).expect("valid catalogue");
    let breakable = [" ?", " !", " ;", " :", "« ", " »"];
    for m in catalog.modules() {
        let mut texts = vec![m.title.clone(), m.summary.clone()];
        texts.extend(m.lessons.iter().map(|l| l.html.clone()));
        for q in m.quiz.pools.iter().flat_map(|p| &p.questions) {
            texts.push(q.prompt.clone());
            texts.extend(q.situation.clone());
            for o in &q.options {
                texts.push(o.text.clone());
                texts.push(o.explanation.clone());
            }
        }
        for t in texts {
            for b in breakable {
                assert!(!t.contains(b), "{}: breakable space in {b:?}: {t}", m.slug);
            }
        }
    }
}

#[test]
fn one_inclusive_writing_rule_and_no_anglicism_in_content_and_pages() {
    // The French content: the module folders (not the English authors' README) and pages.
    let mut files: Vec<PathBuf> = std::fs::read_dir(root("courses"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .flat_map(|m| walk(&m))
        .collect();
    files.extend(walk(&root("templates")));
    files.push(root("src/people/mod.rs"));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let chars: Vec<char> = text.chars().collect();
        for w in chars.windows(3) {
            assert!(
                !(w[0].is_alphabetic() && w[1] == '·' && w[2].is_alphabetic()),
                "{}: middle dot inside a word ({}{}{}): write both forms in full or an epicene word",
                path.display(),
                w[0],
                w[1],
                w[2]
            );
        }
        if path.extension().is_some_and(|e| e == "rs") {
            continue;
        }
        let w = words(&text);
        for anglicism in ["manager", "managers", "check list", "checklist"] {
            assert!(
                !w.contains(&format!(" {anglicism} ")),
                "{}: « {anglicism} » (write « encadrant », « encadrante » or « liste de contrôle »)",
                path.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
