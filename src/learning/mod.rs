//! Attempts, grading, progress and completion: the rules, without SQL or HTTP.

pub mod api;
pub mod flow;
pub mod routes;
pub mod store;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use crate::catalog::{Kind, Module, Question, Quiz};

/// A small, stable pseudo-random generator (SplitMix64). Attempts store their seed, and the
/// draw must give the same questions for that seed in every future version of the code, so
/// it is written here rather than taken from a crate whose algorithm may change.
pub struct SeededRng(u64);

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Draws the questions of one attempt: `draw` questions from each pool, the whole set
/// shuffled, and the options of each question shuffled (true/false keeps Vrai before Faux).
pub fn draw_questions(quiz: &Quiz, seed: u64) -> Vec<Question> {
    let mut rng = SeededRng::new(seed);
    let mut drawn = Vec::new();
    for pool in &quiz.pools {
        let mut picks: Vec<&Question> = pool.questions.iter().collect();
        rng.shuffle(&mut picks);
        drawn.extend(picks.into_iter().take(pool.draw).cloned());
    }
    rng.shuffle(&mut drawn);
    for q in &mut drawn {
        if q.kind != Kind::TrueFalse {
            rng.shuffle(&mut q.options);
        }
    }
    drawn
}

/// What a learner chose, per question id.
pub type Answers = HashMap<String, Vec<String>>;

/// Reads an `application/x-www-form-urlencoded` quiz body: `q[<question>]=<option>` pairs.
pub fn parse_quiz_form(body: &str) -> Result<Answers, String> {
    let mut answers = Answers::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            rocket::http::RawStr::new(&s.replace('+', " "))
                .url_decode()
                .map(|c| c.into_owned())
                .map_err(|_| "Le formulaire contient un texte mal encodé.".to_string())
        };
        let name = decode(name)?;
        let value = decode(value)?;
        let question = name
            .strip_prefix("q[")
            .and_then(|n| n.strip_suffix(']'))
            .filter(|q| !q.is_empty())
            .ok_or_else(|| format!("Champ inattendu dans le formulaire : « {name} »."))?;
        answers.entry(question.to_string()).or_default().push(value);
    }
    Ok(answers)
}

/// A submission that cannot be graded, with a message for the learner or API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError(pub String);

/// The grade of one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionResult {
    pub question_id: String,
    pub chosen: Vec<String>,
    pub correct: bool,
    /// Credit in half points: 2 is full credit.
    pub credit: u32,
}

/// The grade of a whole attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grading {
    /// Percentage, rounded down.
    pub score: u32,
    pub passed: bool,
    pub questions: Vec<QuestionResult>,
}

/// Grades answers against the questions of an attempt.
///
/// Unanswered questions earn nothing. Single, true/false and multiple-choice questions are
/// all or nothing; a scenario answer earns full credit when appropriate, half when ambiguous,
/// nothing when discriminatory. Answers naming an unknown question or option, or several
/// options for a one-answer question, are refused rather than guessed at.
pub fn grade(
    questions: &[Question],
    answers: &Answers,
    pass_mark: u8,
) -> Result<Grading, AnswerError> {
    for qid in answers.keys() {
        if !questions.iter().any(|q| &q.id == qid) {
            return Err(AnswerError(format!("question inconnue : « {qid} »")));
        }
    }
    let mut results = Vec::with_capacity(questions.len());
    let mut earned = 0u32;
    for q in questions {
        let mut chosen: Vec<String> = answers.get(&q.id).cloned().unwrap_or_default();
        chosen.sort();
        chosen.dedup();
        for c in &chosen {
            if !q.options.iter().any(|o| &o.id == c) {
                return Err(AnswerError(format!(
                    "réponse inconnue « {c} » pour la question « {} »",
                    q.id
                )));
            }
        }
        if !q.kind.is_multiple() && chosen.len() > 1 {
            return Err(AnswerError(format!(
                "la question « {} » n'accepte qu'une réponse",
                q.id
            )));
        }
        let credit = match q.kind {
            Kind::Scenario => chosen
                .first()
                .and_then(|c| q.options.iter().find(|o| &o.id == c))
                .map(|o| o.scenario_credit())
                .unwrap_or(0),
            _ => {
                let right: HashSet<&str> = q
                    .options
                    .iter()
                    .filter(|o| o.correct)
                    .map(|o| o.id.as_str())
                    .collect();
                let got: HashSet<&str> = chosen.iter().map(String::as_str).collect();
                if !got.is_empty() && got == right {
                    2
                } else {
                    0
                }
            }
        };
        earned += credit;
        results.push(QuestionResult {
            question_id: q.id.clone(),
            chosen,
            correct: credit == 2,
            credit,
        });
    }
    let possible = 2 * questions.len() as u32;
    let score = (earned * 100).checked_div(possible).unwrap_or(0);
    Ok(Grading {
        score,
        passed: possible > 0 && earned * 100 >= u32::from(pass_mark) * possible,
        questions: results,
    })
}

/// Where a learner stands on one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotStarted,
    InProgress,
    Completed,
    Expired,
    /// Every allowed attempt was used without passing.
    Blocked,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::NotStarted => "Non commencé",
            Status::InProgress => "En cours",
            Status::Completed => "Validé",
            Status::Expired => "Validation expirée",
            Status::Blocked => "Tentatives épuisées",
        }
    }
}

/// The facts about one learner and one module that decide the status.
#[derive(Debug, Clone, Default)]
pub struct ModuleFacts {
    pub lessons_viewed: usize,
    /// Attempts started since the latest completion (or ever, when none).
    pub attempts_in_cycle: u32,
    pub last_completed_at: Option<DateTime<Utc>>,
}

/// End of validity of a completion.
pub fn valid_until(completed_at: DateTime<Utc>, validity_months: u32) -> DateTime<Utc> {
    completed_at
        .checked_add_months(Months::new(validity_months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub fn status(module: &Module, facts: &ModuleFacts, now: DateTime<Utc>) -> Status {
    if let Some(done) = facts.last_completed_at {
        if valid_until(done, module.validity_months) > now {
            return Status::Completed;
        }
        if facts.attempts_in_cycle == 0 {
            return Status::Expired;
        }
    }
    if attempts_left(module, facts.attempts_in_cycle) == Some(0) {
        return Status::Blocked;
    }
    if facts.lessons_viewed > 0 || facts.attempts_in_cycle > 0 {
        Status::InProgress
    } else {
        Status::NotStarted
    }
}

/// Attempts still allowed in this cycle; `None` when unlimited.
pub fn attempts_left(module: &Module, used: u32) -> Option<u32> {
    module.attempts_allowed.map(|max| max.saturating_sub(used))
}

/// Why a learner may not start an attempt now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartRefusal {
    LessonsNotViewed { viewed: usize, total: usize },
    PrerequisiteMissing(String),
    NoAttemptLeft,
}

impl StartRefusal {
    pub fn message(&self) -> String {
        match self {
            StartRefusal::LessonsNotViewed { viewed, total } => format!(
                "Lisez d'abord toutes les leçons du module ({viewed} sur {total} lues)."
            ),
            StartRefusal::PrerequisiteMissing(title) => {
                format!("Validez d'abord le module prérequis « {title} ».")
            }
            StartRefusal::NoAttemptLeft => "Vous avez utilisé toutes les tentatives autorisées pour ce module. Contactez votre référent formation.".into(),
        }
    }
}

/// Checks the rules for starting an attempt. `prerequisites_missing` lists the titles of
/// prerequisite modules without a valid completion.
pub fn may_start(
    module: &Module,
    facts: &ModuleFacts,
    prerequisites_missing: &[String],
) -> Result<(), StartRefusal> {
    if let Some(title) = prerequisites_missing.first() {
        return Err(StartRefusal::PrerequisiteMissing(title.clone()));
    }
    if facts.lessons_viewed < module.lessons.len() {
        return Err(StartRefusal::LessonsNotViewed {
            viewed: facts.lessons_viewed,
            total: module.lessons.len(),
        });
    }
    if attempts_left(module, facts.attempts_in_cycle) == Some(0) {
        return Err(StartRefusal::NoAttemptLeft);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Choice, Grade, Pool};

    fn choice(id: &str, correct: bool, grade: Option<Grade>) -> Choice {
        Choice {
            id: id.into(),
            text: id.to_uppercase(),
            correct,
            grade,
            explanation: format!("explication {id}"),
        }
    }

    fn question(id: &str, kind: Kind, options: Vec<Choice>) -> Question {
        Question {
            id: id.into(),
            kind,
            prompt: format!("{id} ?"),
            situation: (kind == Kind::Scenario).then(|| "Au guichet…".into()),
            options,
        }
    }

    fn sample() -> Vec<Question> {
        vec![
            question(
                "single",
                Kind::Single,
                vec![choice("a", false, None), choice("b", true, None)],
            ),
            question(
                "multi",
                Kind::Multiple,
                vec![
                    choice("a", true, None),
                    choice("b", true, None),
                    choice("c", false, None),
                ],
            ),
            question(
                "tf",
                Kind::TrueFalse,
                vec![choice("vrai", true, None), choice("faux", false, None)],
            ),
            question(
                "scen",
                Kind::Scenario,
                vec![
                    choice("ok", true, Some(Grade::Appropriate)),
                    choice("bof", false, Some(Grade::Ambiguous)),
                    choice("non", false, Some(Grade::Discriminatory)),
                ],
            ),
        ]
    }

    fn answers(pairs: &[(&str, &[&str])]) -> Answers {
        pairs
            .iter()
            .map(|(q, opts)| (q.to_string(), opts.iter().map(|o| o.to_string()).collect()))
            .collect()
    }

    #[test]
    fn all_right_scores_100() {
        let a = answers(&[
            ("single", &["b"]),
            ("multi", &["b", "a"]),
            ("tf", &["vrai"]),
            ("scen", &["ok"]),
        ]);
        let g = grade(&sample(), &a, 80).unwrap();
        assert_eq!(g.score, 100);
        assert!(g.passed);
        assert!(g.questions.iter().all(|q| q.correct));
    }

    #[test]
    fn multiple_choice_is_all_or_nothing_and_scenarios_give_half_credit() {
        let a = answers(&[
            ("single", &["b"]),
            ("multi", &["a"]),
            ("tf", &["vrai"]),
            ("scen", &["bof"]),
        ]);
        let g = grade(&sample(), &a, 80).unwrap();
        // 2 + 0 + 2 + 1 out of 8
        assert_eq!(g.score, 62);
        assert!(!g.passed);
        assert_eq!(g.questions[1].credit, 0);
        assert_eq!(g.questions[3].credit, 1);
        assert!(!g.questions[3].correct);
    }

    #[test]
    fn pass_mark_is_inclusive_and_unanswered_earns_nothing() {
        let a = answers(&[
            ("single", &["b"]),
            ("multi", &["a", "b"]),
            ("tf", &["vrai"]),
        ]);
        let g = grade(&sample(), &a, 75).unwrap();
        assert_eq!(g.score, 75);
        assert!(g.passed);
        assert!(!grade(&sample(), &a, 76).unwrap().passed);
        assert_eq!(g.questions[3].chosen, Vec::<String>::new());
    }

    #[test]
    fn bad_answers_are_refused() {
        let s = sample();
        assert!(grade(&s, &answers(&[("nope", &["a"])]), 80).is_err());
        assert!(grade(&s, &answers(&[("single", &["z"])]), 80).is_err());
        assert!(grade(&s, &answers(&[("single", &["a", "b"])]), 80).is_err());
        assert!(grade(&s, &answers(&[("scen", &["ok", "non"])]), 80).is_err());
        // A duplicate of the same option is one choice.
        assert!(
            grade(&s, &answers(&[("single", &["b", "b"])]), 80)
                .unwrap()
                .questions[0]
                .correct
        );
    }

    fn quiz() -> Quiz {
        let pool = |id: &str, n: usize, draw: usize| Pool {
            id: id.into(),
            draw,
            questions: (0..n)
                .map(|i| {
                    question(
                        &format!("{id}{i}"),
                        Kind::Single,
                        vec![
                            choice("a", true, None),
                            choice("b", false, None),
                            choice("c", false, None),
                        ],
                    )
                })
                .collect(),
        };
        Quiz {
            pools: vec![pool("p", 10, 3), pool("r", 4, 4)],
        }
    }

    #[test]
    fn draws_respect_pools_and_are_reproducible() {
        let q = quiz();
        let a = draw_questions(&q, 42);
        assert_eq!(a.len(), 7);
        assert_eq!(a.iter().filter(|x| x.id.starts_with('p')).count(), 3);
        assert_eq!(a.iter().filter(|x| x.id.starts_with('r')).count(), 4);
        let ids: HashSet<_> = a.iter().map(|x| &x.id).collect();
        assert_eq!(ids.len(), 7, "no question twice");
        assert_eq!(a, draw_questions(&q, 42), "same seed, same attempt");
    }

    #[test]
    fn seeds_vary_the_draw_and_the_order() {
        let q = quiz();
        let draws: HashSet<Vec<String>> = (0..50)
            .map(|s| {
                draw_questions(&q, s)
                    .iter()
                    .map(|x| format!("{}:{}", x.id, x.options[0].id))
                    .collect()
            })
            .collect();
        assert!(draws.len() > 40, "only {} distinct draws", draws.len());
        // Every question of the big pool shows up across seeds.
        let seen: HashSet<String> = (0..200)
            .flat_map(|s| draw_questions(&q, s).into_iter().map(|x| x.id))
            .collect();
        assert_eq!(seen.len(), 14);
    }

    #[test]
    fn true_false_keeps_its_order() {
        let q = Quiz {
            pools: vec![Pool {
                id: "p".into(),
                draw: 1,
                questions: vec![sample()[2].clone()],
            }],
        };
        for seed in 0..20 {
            assert_eq!(draw_questions(&q, seed)[0].options[0].id, "vrai");
        }
    }

    #[test]
    fn quiz_forms_are_read_strictly() {
        let a = parse_quiz_form("q%5Bq1%5D=a&q[q2]=b&q[q2]=c&").unwrap();
        assert_eq!(a["q1"], vec!["a"]);
        assert_eq!(a["q2"], vec!["b", "c"]);
        assert!(parse_quiz_form("").unwrap().is_empty());
        assert!(parse_quiz_form("q%ZZ=1").is_err());
        assert!(parse_quiz_form("other=1").is_err());
        assert!(parse_quiz_form("q[]=1").is_err());
        assert!(parse_quiz_form("q[a]=%FF").is_err(), "invalid UTF-8");
    }

    #[test]
    fn rng_below_is_in_range_and_spread() {
        let mut rng = SeededRng::new(7);
        let mut counts = [0u32; 6];
        for _ in 0..6000 {
            counts[rng.below(6)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
