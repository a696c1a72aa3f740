//! Reading and validating a course folder.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use super::markdown::{self, LessonDoc};
use super::typography::french;
use super::{Audience, Catalog, Choice, Grade, Kind, Lesson, Module, Pool, Question, Quiz};

/// One problem found in a course file, printed as `path:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Reads every module folder under `dir`. Returns the catalogue, or every problem found.
pub fn load(dir: &Path) -> Result<Catalog, Vec<Problem>> {
    let mut problems = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            return Err(vec![Problem {
                path: dir.to_path_buf(),
                line: 1,
                message: format!("cannot read the course folder: {e}"),
            }])
        }
    };
    let mut folders: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();

    let mut modules = Vec::new();
    for folder in &folders {
        if let Some(m) = load_module(folder, &mut problems) {
            modules.push(m);
        }
    }
    if folders.is_empty() {
        problems.push(Problem {
            path: dir.to_path_buf(),
            line: 1,
            message: "no module folder found".into(),
        });
    }
    check_catalog(&modules, &folders, &mut problems);
    if problems.is_empty() {
        Ok(Catalog::new(modules))
    } else {
        Err(problems)
    }
}

/// Rules that span modules: unique slugs, known prerequisites, no prerequisite cycle.
fn check_catalog(modules: &[Module], folders: &[PathBuf], problems: &mut Vec<Problem>) {
    let slugs: HashSet<&str> = modules.iter().map(|m| m.slug.as_str()).collect();
    // Folders that failed to load still count as known slugs, to avoid a cascade of
    // "unknown prerequisite" messages hiding the real problem.
    let folder_names: HashSet<String> = folders
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for m in modules {
        let path = folders
            .iter()
            .find(|f| f.ends_with(&m.slug))
            .map(|f| f.join("module.toml"))
            .unwrap_or_else(|| PathBuf::from(&m.slug).join("module.toml"));
        for p in &m.prerequisites {
            if !slugs.contains(p.as_str()) && !folder_names.contains(p) {
                problems.push(Problem {
                    path: path.clone(),
                    line: 1,
                    message: format!("unknown prerequisite \"{p}\""),
                });
            }
        }
        if has_cycle(m, modules) {
            problems.push(Problem {
                path,
                line: 1,
                message: format!("prerequisites of \"{}\" form a cycle", m.slug),
            });
        }
    }
}

fn has_cycle(start: &Module, modules: &[Module]) -> bool {
    let mut stack: Vec<&str> = start.prerequisites.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    while let Some(slug) = stack.pop() {
        if slug == start.slug {
            return true;
        }
        if !seen.insert(slug) {
            continue;
        }
        if let Some(m) = modules.iter().find(|m| m.slug == slug) {
            stack.extend(m.prerequisites.iter().map(String::as_str));
        }
    }
    false
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    slug: Spanned<String>,
    title: Spanned<String>,
    summary: Spanned<String>,
    audiences: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    territorial_axes: Vec<Spanned<i64>>,
    #[serde(default)]
    equality_axes: Vec<Spanned<i64>>,
    estimated_minutes: Spanned<i64>,
    pass_mark: Spanned<i64>,
    attempts_allowed: Option<Spanned<i64>>,
    validity_months: Spanned<i64>,
    #[serde(default)]
    prerequisites: Vec<Spanned<String>>,
    lessons: Spanned<Vec<Spanned<String>>>,
    quiz: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuiz {
    #[serde(default)]
    pools: Vec<RawPool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    id: Spanned<String>,
    draw: Spanned<i64>,
    #[serde(default)]
    questions: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: Spanned<String>,
    kind: Spanned<String>,
    prompt: Spanned<String>,
    situation: Option<Spanned<String>>,
    answer: Option<Spanned<bool>>,
    explanation: Option<Spanned<String>>,
    #[serde(default)]
    options: Vec<RawOption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    id: Spanned<String>,
    text: Spanned<String>,
    correct: Option<Spanned<bool>>,
    grade: Option<Spanned<String>>,
    explanation: Option<Spanned<String>>,
}

/// Collects problems for one file, turning byte offsets into line numbers.
struct FileReport<'a> {
    path: PathBuf,
    source: &'a str,
    problems: &'a mut Vec<Problem>,
    count: usize,
}

impl<'a> FileReport<'a> {
    fn new(path: PathBuf, source: &'a str, problems: &'a mut Vec<Problem>) -> Self {
        FileReport {
            path,
            source,
            problems,
            count: 0,
        }
    }

    fn at(&mut self, offset: usize, message: impl Into<String>) {
        let line = line_of(self.source, offset);
        self.problems.push(Problem {
            path: self.path.clone(),
            line,
            message: message.into(),
        });
        self.count += 1;
    }
}

fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn read(path: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) => {
            problems.push(Problem {
                path: path.to_path_buf(),
                line: 1,
                message: format!("cannot read file: {e}"),
            });
            None
        }
    }
}

fn parse_toml<T: for<'de> Deserialize<'de>>(
    path: &Path,
    source: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match toml::from_str::<T>(source) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = e.span().map(|s| line_of(source, s.start)).unwrap_or(1);
            problems.push(Problem {
                path: path.to_path_buf(),
                line,
                message: e.message().trim().to_string(),
            });
            None
        }
    }
}

fn load_module(folder: &Path, problems: &mut Vec<Problem>) -> Option<Module> {
    let module_path = folder.join("module.toml");
    if !module_path.is_file() {
        problems.push(Problem {
            path: module_path,
            line: 1,
            message: "missing module.toml".into(),
        });
        return None;
    }
    let source = read(&module_path, problems)?;
    let raw: RawModule = parse_toml(&module_path, &source, problems)?;
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());

    let mut rep = FileReport::new(module_path.clone(), &source, problems);
    let folder_name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let slug = raw.slug.get_ref().clone();
    if !is_identifier(&slug) {
        rep.at(
            raw.slug.span().start,
            format!("slug \"{slug}\" must use lowercase letters, digits and hyphens"),
        );
    } else if slug != folder_name {
        rep.at(
            raw.slug.span().start,
            format!("slug \"{slug}\" differs from its folder name \"{folder_name}\""),
        );
    }
    for (field, value) in [("title", &raw.title), ("summary", &raw.summary)] {
        if value.get_ref().trim().is_empty() {
            rep.at(value.span().start, format!("{field} is empty"));
        }
    }
    let mut audiences = Vec::new();
    for a in raw.audiences.get_ref() {
        match Audience::parse(a.get_ref()) {
            Some(aud) if audiences.contains(&aud) => {
                rep.at(a.span().start, format!("audience \"{}\" listed twice", aud))
            }
            Some(aud) => audiences.push(aud),
            None => rep.at(
                a.span().start,
                format!(
                    "unknown audience \"{}\" (expected one of: {})",
                    a.get_ref(),
                    Audience::ALL.map(Audience::code).join(", ")
                ),
            ),
        }
    }
    if raw.audiences.get_ref().is_empty() {
        rep.at(raw.audiences.span().start, "audiences is empty");
    }
    let axes = |list: &[Spanned<i64>], name: &str, rep: &mut FileReport| -> Vec<u8> {
        let mut out = Vec::new();
        for v in list {
            match u8::try_from(*v.get_ref()) {
                Ok(n @ 1..=5) if !out.contains(&n) => out.push(n),
                Ok(n @ 1..=5) => rep.at(v.span().start, format!("{name} {n} listed twice")),
                _ => rep.at(
                    v.span().start,
                    format!("{name} must be between 1 and 5, found {}", v.get_ref()),
                ),
            }
        }
        out.sort_unstable();
        out
    };
    let territorial_axes = axes(&raw.territorial_axes, "territorial axis", &mut rep);
    if raw.territorial_axes.is_empty() {
        rep.at(
            raw.slug.span().start,
            "territorial_axes is empty: name the axes of the territorial plan this module serves",
        );
    }
    let equality_axes = axes(&raw.equality_axes, "equality axis", &mut rep);
    let mut ranged = |v: &Spanned<i64>, name: &str, lo: i64, hi: i64| -> i64 {
        let n = *v.get_ref();
        if n < lo || n > hi {
            rep.at(
                v.span().start,
                format!("{name} must be between {lo} and {hi}, found {n}"),
            );
        }
        n.clamp(lo, hi)
    };
    let estimated_minutes = ranged(&raw.estimated_minutes, "estimated_minutes", 1, 600) as u32;
    let pass_mark = ranged(&raw.pass_mark, "pass_mark", 1, 100) as u8;
    let validity_months = ranged(&raw.validity_months, "validity_months", 1, 120) as u32;
    let attempts_allowed = raw
        .attempts_allowed
        .as_ref()
        .map(|a| ranged(a, "attempts_allowed", 1, 1000) as u32);
    let mut prerequisites = Vec::new();
    for p in &raw.prerequisites {
        if p.get_ref() == &slug {
            rep.at(p.span().start, "a module cannot be its own prerequisite");
        } else if prerequisites.contains(p.get_ref()) {
            rep.at(
                p.span().start,
                format!("prerequisite \"{}\" listed twice", p.get_ref()),
            );
        } else {
            prerequisites.push(p.get_ref().clone());
        }
    }

    // Lessons
    let mut lesson_files: Vec<(String, usize)> = Vec::new();
    if raw.lessons.get_ref().is_empty() {
        rep.at(
            raw.lessons.span().start,
            "a module needs at least one lesson",
        );
    }
    for l in raw.lessons.get_ref() {
        let name = l.get_ref();
        if name.contains('/')
            || name.contains('\\')
            || name.starts_with('.')
            || !name.ends_with(".md")
        {
            rep.at(
                l.span().start,
                format!(
                    "lesson \"{name}\" must be the name of a .md file inside the module folder"
                ),
            );
        } else if lesson_files.iter().any(|(f, _)| f == name) {
            rep.at(l.span().start, format!("lesson \"{name}\" listed twice"));
        } else if !folder.join(name).is_file() {
            rep.at(
                l.span().start,
                format!("lesson file \"{name}\" does not exist"),
            );
        } else {
            lesson_files.push((name.clone(), l.span().start));
        }
    }
    let quiz_name = raw
        .quiz
        .as_ref()
        .map(|q| q.get_ref().clone())
        .unwrap_or_else(|| "quiz.toml".into());
    let quiz_offset = raw.quiz.as_ref().map(|q| q.span().start).unwrap_or(0);
    let quiz_path = folder.join(&quiz_name);
    if quiz_name.contains('/') || !quiz_path.is_file() {
        rep.at(
            quiz_offset,
            format!("quiz file \"{quiz_name}\" does not exist"),
        );
    }
    let module_errors = rep.count;
    drop(rep);

    let mut lessons = Vec::new();
    for (file, _) in &lesson_files {
        let path = folder.join(file);
        let Some(text) = read(&path, problems) else {
            continue;
        };
        hasher.update(file.as_bytes());
        hasher.update(text.as_bytes());
        match markdown::parse_lesson(&text) {
            Ok(LessonDoc {
                title,
                html,
                minutes,
            }) => lessons.push(Lesson {
                file: file.clone(),
                title,
                html,
                minutes,
            }),
            Err((line, message)) => problems.push(Problem {
                path: path.clone(),
                line,
                message,
            }),
        }
    }

    let before = problems.len();
    let quiz = if quiz_path.is_file() {
        let text = read(&quiz_path, problems)?;
        hasher.update(text.as_bytes());
        parse_quiz(&quiz_path, &text, problems)
    } else {
        None
    };
    if module_errors > 0 || problems.len() > before || lessons.len() != lesson_files.len() {
        return None;
    }
    let quiz = quiz?;
    let version = hex::encode(&hasher.finalize()[..8]);
    Some(Module {
        slug,
        title: french(raw.title.get_ref()),
        summary: french(raw.summary.get_ref()),
        audiences,
        territorial_axes,
        equality_axes,
        estimated_minutes,
        pass_mark,
        attempts_allowed,
        validity_months,
        prerequisites,
        lessons,
        quiz,
        version,
    })
}

fn parse_quiz(path: &Path, source: &str, problems: &mut Vec<Problem>) -> Option<Quiz> {
    let raw: RawQuiz = parse_toml(path, source, problems)?;
    let mut rep = FileReport::new(path.to_path_buf(), source, problems);
    if raw.pools.is_empty() {
        rep.at(0, "the quiz has no [[pools]]");
    }
    let mut pool_ids = HashSet::new();
    let mut question_ids = HashSet::new();
    let mut pools = Vec::new();
    for p in raw.pools {
        let id = p.id.get_ref().clone();
        if !is_identifier(&id) {
            rep.at(p.id.span().start, format!("invalid pool id \"{id}\""));
        } else if !pool_ids.insert(id.clone()) {
            rep.at(p.id.span().start, format!("duplicate pool id \"{id}\""));
        }
        let draw = *p.draw.get_ref();
        if p.questions.is_empty() {
            rep.at(p.id.span().start, format!("pool \"{id}\" has no questions"));
        }
        if draw < 1 {
            rep.at(
                p.draw.span().start,
                format!("pool \"{id}\" must draw at least 1 question"),
            );
        } else if draw as usize > p.questions.len() {
            rep.at(
                p.draw.span().start,
                format!(
                    "pool \"{id}\" draws {draw} questions but has only {}",
                    p.questions.len()
                ),
            );
        }
        let mut questions = Vec::new();
        for q in p.questions {
            if let Some(question) = check_question(q, &mut question_ids, &mut rep) {
                questions.push(question);
            }
        }
        pools.push(Pool {
            id,
            draw: draw.max(0) as usize,
            questions,
        });
    }
    (rep.count == 0).then_some(Quiz { pools })
}

fn check_question(
    q: RawQuestion,
    ids: &mut HashSet<String>,
    rep: &mut FileReport,
) -> Option<Question> {
    let start = rep.count;
    let id = q.id.get_ref().clone();
    let at = q.id.span().start;
    if !is_identifier(&id) {
        rep.at(at, format!("invalid question id \"{id}\""));
    } else if !ids.insert(id.clone()) {
        rep.at(at, format!("duplicate question id \"{id}\""));
    }
    let Some(kind) = Kind::parse(q.kind.get_ref()) else {
        rep.at(
            q.kind.span().start,
            format!(
                "question \"{id}\": unknown kind \"{}\" (expected single, multiple, true_false or scenario)",
                q.kind.get_ref()
            ),
        );
        return None;
    };
    if q.prompt.get_ref().trim().is_empty() {
        rep.at(
            q.prompt.span().start,
            format!("question \"{id}\": empty prompt"),
        );
    }
    match (&q.situation, kind) {
        (None, Kind::Scenario) => rep.at(at, format!("scenario \"{id}\" needs a situation")),
        (Some(s), Kind::Scenario) if s.get_ref().trim().is_empty() => rep.at(
            s.span().start,
            format!("scenario \"{id}\": empty situation"),
        ),
        (Some(s), k) if k != Kind::Scenario => rep.at(
            s.span().start,
            format!("question \"{id}\": only scenarios have a situation"),
        ),
        _ => {}
    }

    let options = if kind == Kind::TrueFalse {
        if !q.options.is_empty() {
            rep.at(
                q.options[0].id.span().start,
                format!("true/false question \"{id}\" takes answer and explanation, not options"),
            );
        }
        let Some(answer) = q.answer.as_ref().map(|a| *a.get_ref()) else {
            rep.at(at, format!("true/false question \"{id}\" has no answer"));
            return None;
        };
        let explanation = match &q.explanation {
            Some(e) if !e.get_ref().trim().is_empty() => french(e.get_ref()),
            _ => {
                rep.at(
                    at,
                    format!("true/false question \"{id}\" has no explanation"),
                );
                return None;
            }
        };
        vec![
            Choice {
                id: "vrai".into(),
                text: "Vrai".into(),
                correct: answer,
                grade: None,
                explanation: explanation.clone(),
            },
            Choice {
                id: "faux".into(),
                text: "Faux".into(),
                correct: !answer,
                grade: None,
                explanation,
            },
        ]
    } else {
        if let Some(a) = &q.answer {
            rep.at(
                a.span().start,
                format!("question \"{id}\": answer is only for true_false questions"),
            );
        }
        if let Some(e) = &q.explanation {
            rep.at(
                e.span().start,
                format!("question \"{id}\": put explanations on each option"),
            );
        }
        check_options(&id, kind, q.options, at, rep)
    };
    (rep.count == start).then(|| Question {
        id,
        kind,
        prompt: french(&q.prompt.into_inner()),
        situation: q.situation.map(|s| french(s.get_ref())),
        options,
    })
}

fn check_options(
    qid: &str,
    kind: Kind,
    raw: Vec<RawOption>,
    at: usize,
    rep: &mut FileReport,
) -> Vec<Choice> {
    if raw.len() < 2 || raw.len() > 6 {
        rep.at(
            at,
            format!(
                "question \"{qid}\" has {} options (2 to 6 expected)",
                raw.len()
            ),
        );
    }
    let mut seen = HashSet::new();
    let mut options = Vec::new();
    for o in raw {
        let oid = o.id.get_ref().clone();
        let oat = o.id.span().start;
        if !is_identifier(&oid) {
            rep.at(
                oat,
                format!("question \"{qid}\": invalid option id \"{oid}\""),
            );
        } else if !seen.insert(oid.clone()) {
            rep.at(
                oat,
                format!("question \"{qid}\": duplicate option id \"{oid}\""),
            );
        }
        if o.text.get_ref().trim().is_empty() {
            rep.at(
                o.text.span().start,
                format!("question \"{qid}\": option \"{oid}\" has no text"),
            );
        }
        let explanation = match &o.explanation {
            Some(e) if !e.get_ref().trim().is_empty() => e.get_ref().clone(),
            _ => {
                rep.at(
                    oat,
                    format!("question \"{qid}\": option \"{oid}\" has no explanation"),
                );
                String::new()
            }
        };
        let (correct, grade) = if kind == Kind::Scenario {
            if let Some(c) = &o.correct {
                rep.at(
                    c.span().start,
                    format!("scenario \"{qid}\": use grade, not correct, on option \"{oid}\""),
                );
            }
            match &o.grade {
                None => {
                    rep.at(
                        oat,
                        format!("scenario \"{qid}\": option \"{oid}\" has no grade"),
                    );
                    (false, None)
                }
                Some(g) => match Grade::parse(g.get_ref()) {
                    Some(grade) => (grade == Grade::Appropriate, Some(grade)),
                    None => {
                        rep.at(
                            g.span().start,
                            format!(
                                "scenario \"{qid}\": unknown grade \"{}\" (expected appropriate, ambiguous or discriminatory)",
                                g.get_ref()
                            ),
                        );
                        (false, None)
                    }
                },
            }
        } else {
            if let Some(g) = &o.grade {
                rep.at(
                    g.span().start,
                    format!("question \"{qid}\": grade is only for scenarios"),
                );
            }
            (
                o.correct.as_ref().map(|c| *c.get_ref()).unwrap_or(false),
                None,
            )
        };
        options.push(Choice {
            id: oid,
            text: french(o.text.get_ref()),
            correct,
            grade,
            explanation: french(&explanation),
        });
    }
    let correct = options.iter().filter(|o| o.correct).count();
    match kind {
        Kind::Single if correct != 1 => rep.at(
            at,
            format!("question \"{qid}\" must have exactly one correct option, found {correct}"),
        ),
        Kind::Multiple if correct == 0 => {
            rep.at(at, format!("question \"{qid}\" has no correct option"))
        }
        Kind::Scenario if correct == 0 => rep.at(
            at,
            format!("scenario \"{qid}\" has no option graded appropriate"),
        ),
        _ => {}
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    const MODULE: &str = r#"slug = "m"
title = "Titre"
summary = "Résumé"
audiences = ["accueil"]
territorial_axes = [2]
equality_axes = []
estimated_minutes = 10
pass_mark = 80
attempts_allowed = 3
validity_months = 24
lessons = ["01.md"]
"#;

    const QUIZ: &str = r#"[[pools]]
id = "p"
draw = 1

[[pools.questions]]
id = "q1"
kind = "single"
prompt = "Question ?"

[[pools.questions.options]]
id = "a"
text = "Oui"
correct = true
explanation = "Parce que."

[[pools.questions.options]]
id = "b"
text = "Non"
correct = false
explanation = "Parce que non."
"#;

    fn valid(dir: &Path) {
        write(dir, "m/module.toml", MODULE);
        write(dir, "m/01.md", "# Leçon un\n\nTexte.\n");
        write(dir, "m/quiz.toml", QUIZ);
    }

    fn problems(dir: &Path) -> Vec<String> {
        match load(dir) {
            Ok(_) => vec![],
            Err(p) => p
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}: {}",
                        p.path.strip_prefix(dir).unwrap().display(),
                        p.line,
                        p.message
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_valid_module_loads_with_a_version() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        let catalog = load(dir.path()).unwrap();
        let m = catalog.get("m").unwrap();
        assert_eq!(m.lessons[0].title, "Leçon un");
        assert_eq!(m.version.len(), 16);
        assert_eq!(m.quiz.pools[0].questions[0].options.len(), 2);
    }

    #[test]
    fn the_version_changes_with_the_content() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        let v1 = load(dir.path()).unwrap().get("m").unwrap().version.clone();
        write(dir.path(), "m/01.md", "# Leçon un\n\nAutre texte.\n");
        let v2 = load(dir.path()).unwrap().get("m").unwrap().version.clone();
        assert_ne!(v1, v2);
    }

    #[test]
    fn bad_toml_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        write(
            dir.path(),
            "m/module.toml",
            &MODULE.replace("pass_mark = 80", "pass_mark = = 80"),
        );
        let p = problems(dir.path());
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("m/module.toml:8: "), "{p:?}");
    }

    #[test]
    fn unknown_audience_and_missing_lesson_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        let text = MODULE
            .replace("[\"accueil\"]", "[\"accueil\", \"pompiers\"]")
            .replace("[\"01.md\"]", "[\"01.md\", \"02.md\"]");
        write(dir.path(), "m/module.toml", &text);
        let p = problems(dir.path());
        assert!(
            p.iter()
                .any(|l| l.starts_with("m/module.toml:4: unknown audience \"pompiers\"")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("m/module.toml:11: lesson file \"02.md\" does not exist")),
            "{p:?}"
        );
    }

    #[test]
    fn question_without_correct_option_duplicate_ids_and_oversized_draw() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        let quiz = format!(
            "{}\n{}",
            QUIZ.replace("correct = true", "correct = false")
                .replace("draw = 1", "draw = 3"),
            r#"[[pools]]
id = "p"
draw = 1

[[pools.questions]]
id = "q1"
kind = "true_false"
prompt = "Vrai ?"
answer = true
explanation = "Oui."
"#
        );
        write(dir.path(), "m/quiz.toml", &quiz);
        let p = problems(dir.path());
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:3: pool \"p\" draws 3 questions but has only 1"),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l
                == "m/quiz.toml:6: question \"q1\" must have exactly one correct option, found 0"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:23: duplicate pool id \"p\""),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:27: duplicate question id \"q1\""),
            "{p:?}"
        );
    }

    #[test]
    fn scenario_rules() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        let quiz = r#"[[pools]]
id = "p"
draw = 1

[[pools.questions]]
id = "s"
kind = "scenario"
prompt = "Que faites-vous ?"

[[pools.questions.options]]
id = "a"
text = "Refuser"
grade = "discriminatory"
explanation = "Non."

[[pools.questions.options]]
id = "b"
text = "Hésiter"
grade = "maybe"
"#;
        write(dir.path(), "m/quiz.toml", quiz);
        let p = problems(dir.path());
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:6: scenario \"s\" needs a situation"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("m/quiz.toml:19: scenario \"s\": unknown grade \"maybe\"")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:17: question \"s\": option \"b\" has no explanation"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l == "m/quiz.toml:6: scenario \"s\" has no option graded appropriate"),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_prerequisite_and_cycles() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        write(
            dir.path(),
            "m/module.toml",
            &format!("{MODULE}prerequisites = [\"n\"]\n"),
        );
        write(
            dir.path(),
            "n/module.toml",
            &format!(
                "{}prerequisites = [\"m\"]\n",
                MODULE.replace("\"m\"", "\"n\"")
            ),
        );
        write(dir.path(), "n/01.md", "# Leçon\n");
        write(dir.path(), "n/quiz.toml", QUIZ);
        let p = problems(dir.path());
        assert!(p.iter().any(|l| l.contains("form a cycle")), "{p:?}");
        write(
            dir.path(),
            "n/module.toml",
            &format!(
                "{}prerequisites = [\"zzz\"]\n",
                MODULE.replace("\"m\"", "\"n\"")
            ),
        );
        let p = problems(dir.path());
        assert!(
            p.iter()
                .any(|l| l == "n/module.toml:1: unknown prerequisite \"zzz\""),
            "{p:?}"
        );
    }

    #[test]
    fn lesson_without_title_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        valid(dir.path());
        write(dir.path(), "m/01.md", "Pas de titre.\n");
        let p = problems(dir.path());
        assert_eq!(
            p,
            vec!["m/01.md:1: a lesson must start with a level-1 title (# Titre)".to_string()]
        );
    }
}
