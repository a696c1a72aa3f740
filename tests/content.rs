//! The training content: the nine modules of the catalogue keep their shape, so that
//! content cannot silently shrink. Pure file checks, no database.

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
    ("recruter-sans-discriminer", &["rh", "encadrement"], 24),
    ("reperer-et-orienter", &["social", "partenaire"], 36),
    ("sexisme-et-harcelement", &["tous"], 36),
    ("stereotypes-et-prejuges", &["tous", "partenaire"], 36),
];

#[test]
fn the_catalogue_holds_the_nine_modules_with_their_counts() {
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
