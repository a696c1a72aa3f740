//! Load-test scenario of Repères, driven by goose (<https://book.goose.rs>).
//!
//! Three kinds of virtual users (weights `WEIGHTS`, 89 / 10 / 1 by default):
//!
//! - **Learners** sign in through the development sign-in of the benchmark build, open the
//!   catalogue and a module, read its lessons one by one, start the quiz, answer it, submit
//!   it (the server redirects to the result page), and when they passed, open « Ma
//!   progression » and download the certificate PDF. Then they choose a module again.
//! - **Progress viewers** sign in and alternate between « Ma progression » and the public
//!   verification page, where they check a certificate number that a learner obtained.
//! - **HR staff** sign in and alternate between the people list (a second page, a search)
//!   and the certificate export (form, export job, progress polling, ZIP download).
//!
//! Each virtual user performs one *action* per goose transaction (a page, or a click and
//! the page it leads to); goose's wait time between transactions is the think time
//! (`THINK_MIN_SECS`..`THINK_MAX_SECS`, 20–60 s): reading a lesson, answering the quiz,
//! reading the correction. Clicks within one action (catalogue → module → lesson) are
//! separated by short navigation pauses (`NAV_MIN_MS`..`NAV_MAX_MS`). `THINK=0` removes
//! every pause, for stress runs.
//!
//! Quiz answers are real form submissions built from the quiz page (`q[<question>]=<option>`,
//! after the `csrf` field, which must come first). A learner has no answer key: it answers
//! at random, and remembers the correction shown on the result page (the options marked
//! right), which it then applies with probability `RECALL` when the same question comes
//! back; so some attempts pass, more as the run goes on, and certificates get downloaded.
//!
//! Every request carries a name (the route with `[placeholders]`), so goose's report groups
//! by route. A request that follows a redirect (a form post answered « 303 See Other », as a
//! browser does) is one request in the report, named `<posted route> → <page reached>`.
//!
//! Settings are environment variables (goose's own options stay on the command line:
//! `--host`, `--users`, `--hatch-rate`, `--run-time`, `--report-file`, …); see
//! bench/load/README.md for the list. At the end the binary writes a JSON summary
//! (`SUMMARY_FILE`) with the latency histogram, that bench/load.sh turns into its table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use goose::metrics::GooseRequestMetric;
use goose::prelude::*;
use rand::seq::SliceRandom;
use rand::Rng;
use regex::Regex;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

/// Demo learners seeded by the service when `REPERES_DEMO=true` (src/people/mod.rs,
/// `DEMO_PEOPLE`): a reception agent, a social worker and two partner staff.
const DEMO_LEARNERS: &[&str] = &[
    "camille.martin@demo.reperes.test",
    "sophie.nguyen@demo.reperes.test",
    "aicha.diallo@demo.reperes.test",
    "lea.petit@demo.reperes.test",
];

/// The demo HR officer (recruitment, HR department).
const DEMO_HR: &[&str] = &["karim.benali@demo.reperes.test"];

/// What HR staff type in the people search box.
const SEARCH_TERMS: &[&str] = &[
    "martin",
    "ben",
    "nguyen",
    "petit",
    "charge",
    "apprenant",
    "ccas",
];

struct Settings {
    /// Think time between two actions (goose wait time); `None` with `THINK=0`.
    think: Option<(Duration, Duration)>,
    /// Pause between the clicks of one action, in milliseconds (0, 0 with `THINK=0`).
    nav_ms: (u64, u64),
    /// The module learners take (`MODULE`, `bench-quiz` by default); `None` (`MODULE=any`):
    /// a module chosen at random in the catalogue each time.
    module: Option<String>,
    /// Probability that a learner applies a correction it remembers.
    recall: f64,
    /// Learner accounts `load-learner-<i>@<domain>` created by bench/load.sh; 0: the demo
    /// learners, shared by every virtual user.
    learner_accounts: usize,
    /// HR accounts `load-hr-<i>@<domain>`; 0: the demo HR officer.
    hr_accounts: usize,
    account_domain: String,
    /// Header carrying a per-user client address (the service's `ip_header`), so that the
    /// per-address rate limits see many clients, as behind the reverse proxy in production.
    ip_header: Option<String>,
    /// Added to the virtual users' numbers (a second goose process uses other accounts and
    /// other client addresses).
    index_offset: usize,
    /// Scenario weights: learners, progress viewers, HR staff.
    weights: [usize; 3],
    /// Share of HR visits to the export form that start an export.
    hr_export_share: f64,
    /// Progress polls of an export before giving up.
    export_polls: u32,
    /// Least time between two certificate verifications of one user (the service allows 60
    /// a minute per address).
    verify_interval: Duration,
    summary_file: Option<String>,
}

static SETTINGS: LazyLock<Settings> = LazyLock::new(Settings::from_env);

fn settings() -> &'static Settings {
    &SETTINGS
}

fn env_string(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> T {
    match env_string(name) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("reperes-load: {name}={v:?} is not a valid value");
            std::process::exit(2);
        }),
    }
}

impl Settings {
    fn from_env() -> Settings {
        let think_on = env_string("THINK").map_or(true, |v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "0" | "off" | "false" | "no"
            )
        });
        let think_min: f64 = env_parse("THINK_MIN_SECS", 20.0_f64).max(0.0);
        let think_max: f64 = env_parse("THINK_MAX_SECS", 60.0_f64).max(think_min);
        let think = (think_on && think_max > 0.0).then(|| {
            let min = Duration::from_secs_f64(think_min);
            // Goose draws the wait in min..max: keep the range non-empty.
            let max = Duration::from_secs_f64(think_max).max(min + Duration::from_millis(1));
            (min, max)
        });
        let nav_ms = if think_on {
            let min: u64 = env_parse("NAV_MIN_MS", 500);
            let max: u64 = env_parse("NAV_MAX_MS", 3000);
            (min, max.max(min))
        } else {
            (0, 0)
        };
        let module = match env_string("MODULE").as_deref() {
            None => Some("bench-quiz".to_string()),
            Some("any") | Some("*") => None,
            Some(slug) => Some(slug.to_string()),
        };
        let weights = match env_string("WEIGHTS") {
            None => [89, 10, 1],
            Some(w) => {
                let parts: Vec<usize> = w
                    .split(',')
                    .map(|p| p.trim().parse().unwrap_or(usize::MAX))
                    .collect();
                match parts.as_slice() {
                    [a, b, c] if [*a, *b, *c].iter().all(|x| *x != usize::MAX) && a + b + c > 0 => {
                        [*a, *b, *c]
                    }
                    _ => {
                        eprintln!(
                            "reperes-load: WEIGHTS={w:?}: expected three numbers, e.g. 89,10,1"
                        );
                        std::process::exit(2);
                    }
                }
            }
        };
        // Unset: X-Real-IP (what deploy/nginx.conf sets); empty or "none": no header.
        let ip_header = match std::env::var("CLIENT_IP_HEADER") {
            Err(_) => Some("X-Real-IP".to_string()),
            Ok(v) if v.trim().is_empty() || v.trim().eq_ignore_ascii_case("none") => None,
            Ok(v) => Some(v.trim().to_string()),
        };
        Settings {
            think,
            nav_ms,
            module,
            recall: env_parse("RECALL", 0.8_f64).clamp(0.0, 1.0),
            learner_accounts: env_parse("LEARNER_ACCOUNTS", 0),
            hr_accounts: env_parse("HR_ACCOUNTS", 0),
            account_domain: env_string("ACCOUNT_DOMAIN")
                .unwrap_or_else(|| "load.reperes.test".into()),
            ip_header,
            index_offset: env_parse("INDEX_OFFSET", 0),
            weights,
            hr_export_share: env_parse("HR_EXPORT_SHARE", 0.5_f64).clamp(0.0, 1.0),
            export_polls: env_parse("EXPORT_POLLS", 30),
            verify_interval: Duration::from_millis(env_parse("VERIFY_INTERVAL_MS", 1100)),
            summary_file: env_string("SUMMARY_FILE"),
        }
    }

    fn describe(&self) -> String {
        format!(
            "think {}, navigation pauses {}–{} ms, module {}, recall {:.2}, accounts {}, \
             client address header {}, weights learners/progress/HR {}/{}/{}, HR export share {:.2}",
            match self.think {
                Some((a, b)) => format!("{:.0}–{:.0} s", a.as_secs_f64(), b.as_secs_f64()),
                None => "off".into(),
            },
            self.nav_ms.0,
            self.nav_ms.1,
            self.module.as_deref().unwrap_or("any"),
            self.recall,
            if self.learner_accounts > 0 {
                format!(
                    "{} learners + {} HR @{}",
                    self.learner_accounts, self.hr_accounts, self.account_domain
                )
            } else {
                "demo people (shared)".into()
            },
            self.ip_header.as_deref().unwrap_or("none"),
            self.weights[0],
            self.weights[1],
            self.weights[2],
            self.hr_export_share,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Per-user state
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Learner,
    Browser,
    Hr,
}

/// Where a learner is in its path through a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Next action: open the catalogue, choose a module, open it and its first lesson.
    ChooseModule,
    /// Next action: the next lesson, or the quiz once every lesson was read.
    Reading,
    /// Next action: submit the answers to the quiz on screen.
    Answering,
}

/// One question of a quiz page.
#[derive(Clone, Debug)]
struct Question {
    /// The question id, as posted (`q[<id>]`).
    id: String,
    /// Prompt and situation as shown (HTML-escaped), to recognise the question later.
    key: String,
    multiple: bool,
    /// (option id, option text as shown).
    options: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
struct Quiz {
    attempt: String,
    questions: Vec<Question>,
}

/// A virtual user's session data (goose `GooseUserData`).
#[derive(Clone, Debug)]
struct Visitor {
    email: String,
    /// The client address sent in `ip_header`.
    ip: Option<String>,
    signed_in: bool,
    /// The browser's CSRF token (one per browser, repeated in every form).
    csrf: String,
    /// Actions performed, to alternate the progress viewers' and HR staff's pages.
    actions: u64,
    phase: Phase,
    module: String,
    lessons: usize,
    next_lesson: usize,
    quiz: Option<Quiz>,
    /// Corrections seen: question key → texts of the right options.
    memory: HashMap<String, Vec<String>>,
    /// Modules whose quiz cannot be started (no attempt left): skipped from now on.
    blocked: HashSet<String>,
    last_verify: Option<Instant>,
}

impl Visitor {
    fn new(role: Role, index: usize) -> Visitor {
        Visitor {
            email: account_for(role, index),
            ip: settings().ip_header.as_ref().map(|_| client_ip(index)),
            signed_in: false,
            csrf: String::new(),
            actions: 0,
            phase: Phase::ChooseModule,
            module: String::new(),
            lessons: 0,
            next_lesson: 1,
            quiz: None,
            memory: HashMap::new(),
            blocked: HashSet::new(),
            last_verify: None,
        }
    }
}

/// Numbers the virtual users of this process as they start.
static NEXT_USER: AtomicUsize = AtomicUsize::new(0);

/// The account a virtual user signs in with.
fn account_for(role: Role, index: usize) -> String {
    let s = settings();
    match role {
        Role::Hr if s.hr_accounts > 0 => {
            format!("load-hr-{}@{}", index % s.hr_accounts, s.account_domain)
        }
        Role::Hr => DEMO_HR[index % DEMO_HR.len()].to_string(),
        _ if s.learner_accounts > 0 => {
            format!(
                "load-learner-{}@{}",
                index % s.learner_accounts,
                s.account_domain
            )
        }
        _ => DEMO_LEARNERS[index % DEMO_LEARNERS.len()].to_string(),
    }
}

/// A distinct client address per virtual user, in 198.18.0.0/15 (set aside for benchmarks,
/// RFC 2544). Only ever written in a header: no traffic goes to these addresses.
fn client_ip(index: usize) -> String {
    let n = index % 131_072;
    format!("198.{}.{}.{}", 18 + n / 65_536, (n / 256) % 256, n % 256)
}

/// The session data of a user whose start transaction ran (it always sets it first).
fn visitor(user: &mut GooseUser) -> &mut Visitor {
    user.get_session_data_unchecked_mut::<Visitor>()
}

/// Counts one more action of the virtual user and returns its number (1 for the first).
fn next_action(user: &mut GooseUser) -> u64 {
    let v = visitor(user);
    v.actions += 1;
    v.actions
}

/// Certificate numbers obtained by learners, that progress viewers verify (as a third party
/// handed a certificate would). Shared by the virtual users of this process.
static CERTIFICATES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn remember_certificate(number: &str) {
    let mut pool = CERTIFICATES.lock().unwrap_or_else(|p| p.into_inner());
    if pool.iter().any(|n| n == number) {
        return;
    }
    if pool.len() >= 1000 {
        let i = rand::thread_rng().gen_range(0..pool.len());
        pool[i] = number.to_string();
    } else {
        pool.push(number.to_string());
    }
}

fn random_certificate() -> Option<String> {
    let pool = CERTIFICATES.lock().unwrap_or_else(|p| p.into_inner());
    pick(pool.as_slice())
}

// ---------------------------------------------------------------------------------------
// Small helpers (randomness is drawn in plain functions: a ThreadRng must never live
// across an `.await`, since transactions must be `Send`)
// ---------------------------------------------------------------------------------------

fn rand_between(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        lo
    } else {
        rand::thread_rng().gen_range(lo..=hi)
    }
}

fn chance(p: f64) -> bool {
    p >= 1.0 || (p > 0.0 && rand::thread_rng().gen_bool(p))
}

fn pick<T: Clone>(items: &[T]) -> Option<T> {
    items.choose(&mut rand::thread_rng()).cloned()
}

/// A short pause between two clicks of one action.
async fn nav_pause() {
    let (lo, hi) = settings().nav_ms;
    if hi > 0 {
        tokio::time::sleep(Duration::from_millis(rand_between(lo, hi))).await;
    }
}

/// Time between two polls of an export's progress (what the export page's script does).
fn poll_interval() -> Duration {
    if settings().think.is_some() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(250)
    }
}

static WARNED_NO_DEV_LOGIN: AtomicBool = AtomicBool::new(false);
static WARNED_NOT_DEMO: AtomicBool = AtomicBool::new(false);
static WARNED_NO_MODULE: AtomicBool = AtomicBool::new(false);

fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("reperes-load: {message}");
    }
}

/// Percent-encodes a form value (everything but unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A urlencoded form body, fields in the order given (the service reads the CSRF token
/// only from the first field).
fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Undoes the HTML escaping of the service's templates (handlebars) in attribute values.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

// ---------------------------------------------------------------------------------------
// Reading the service's pages (templates/ in the service)
// ---------------------------------------------------------------------------------------

macro_rules! pattern {
    ($name:ident, $re:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($re).expect("valid pattern"));
    };
}

// Every form: <input type="hidden" name="csrf" value="…"> (layout, auth/login, learning/*).
pattern!(CSRF, r#"name="csrf" value="([^"]*)""#);
// learning/catalogue: one card per module offered to the person.
pattern!(
    MODULE_CARD,
    r#"<h2 class="card-title"><a href="/modules/([^"/?#]+)">"#
);
// learning/module: the lesson list.
pattern!(LESSON_LINK, r#"href="/modules/[^"/]+/lecons/(\d+)""#);
// learning/module: « Reprendre le quiz » when an attempt is open.
pattern!(OPEN_ATTEMPT, r#"href="/tentatives/([^"/]+)""#);
// learning/quiz: one fieldset per question.
pattern!(
    QUESTION_PROMPT,
    r#"(?s)<legend><span class="question-number">[^<]*</span> (.*?)(?: <span class="hint">|</legend>)"#
);
// learning/quiz and learning/result: the situation of a scenario question.
pattern!(
    SITUATION,
    r#"(?s)<p class="situation"><span class="situation-label">[^<]*</span> (.*?)</p>"#
);
pattern!(
    INPUT,
    r#"<input type="(?:radio|checkbox)" name="q\[([^\]"]*)\]" value="([^"]*)" id="([^"]*)">"#
);
pattern!(LABEL, r#"(?s)<label for="([^"]*)">(.*?)</label>"#);
// learning/result: the correction of each question.
pattern!(
    CORRECTION_PROMPT,
    r#"(?s)<h3><span class="question-number">[^<]*</span> (.*?)</h3>"#
);
pattern!(
    CORRECTION_OPTION,
    r#"(?s)<li class="([^"]*)">\s*<p class="option-text">(.*?)</p>\s*<p class="option-marks">(.*?)</p>"#
);
// learning/progress: « Mes attestations », newest first.
pattern!(CERTIFICATE_PDF, r#"href="/certificats/([^"/]+)/pdf""#);
// people/list: the pager.
pattern!(NEXT_PAGE, r#"<a href="([^"]*)" rel="next">"#);
// certificates/export: the form.
pattern!(
    UNIT_SELECT,
    r#"(?s)<select id="unit" name="unit">(.*?)</select>"#
);
pattern!(OPTION_VALUE, r#"<option value="([^"]+)">"#);
pattern!(DATE_FROM, r#"id="from" name="from" value="([^"]*)""#);
pattern!(DATE_TO, r#"id="to" name="to" value="([^"]*)""#);

fn csrf_of(html: &str) -> Option<String> {
    CSRF.captures(html).map(|c| unescape(&c[1]))
}

fn question_key(prompt: &str, situation: Option<&str>) -> String {
    match situation {
        Some(s) => format!("{prompt}\n{s}"),
        None => prompt.to_string(),
    }
}

/// The questions of a quiz page, with their option ids and texts.
fn parse_quiz(html: &str) -> Vec<Question> {
    let mut questions = Vec::new();
    for chunk in html
        .split(r#"<fieldset class="question" id="question-"#)
        .skip(1)
    {
        let chunk = chunk.split("</fieldset>").next().unwrap_or(chunk);
        let prompt = QUESTION_PROMPT
            .captures(chunk)
            .map(|c| c[1].trim().to_string())
            .unwrap_or_default();
        let situation = SITUATION.captures(chunk).map(|c| c[1].trim().to_string());
        let labels: HashMap<String, String> = LABEL
            .captures_iter(chunk)
            .map(|c| (c[1].to_string(), c[2].trim().to_string()))
            .collect();
        let mut id = String::new();
        let mut options = Vec::new();
        for c in INPUT.captures_iter(chunk) {
            id = unescape(&c[1]);
            let text = labels.get(&c[3]).cloned().unwrap_or_default();
            options.push((unescape(&c[2]), text));
        }
        if !id.is_empty() && !options.is_empty() {
            questions.push(Question {
                id,
                key: question_key(&prompt, situation.as_deref()),
                multiple: chunk.contains(r#"type="checkbox""#),
                options,
            });
        }
    }
    questions
}

/// Remembers the right options shown in the correction of a result page.
fn learn(html: &str, memory: &mut HashMap<String, Vec<String>>) {
    for chunk in html.split(r#"<li class="correction">"#).skip(1) {
        let Some(prompt) = CORRECTION_PROMPT
            .captures(chunk)
            .map(|c| c[1].trim().to_string())
        else {
            continue;
        };
        let situation = SITUATION.captures(chunk).map(|c| c[1].trim().to_string());
        let right: Vec<String> = CORRECTION_OPTION
            .captures_iter(chunk)
            .filter(|c| {
                c[1].split_whitespace().any(|class| class == "right")
                    || c[3].contains("tag-grade-appropriate")
            })
            .map(|c| c[2].trim().to_string())
            .collect();
        if !right.is_empty() {
            memory.insert(question_key(&prompt, situation.as_deref()), right);
        }
    }
}

/// The answers a learner gives: a remembered correction (with probability `recall`), or a
/// random choice: one option for a one-answer question, a random non-empty set otherwise.
fn choose_answers(
    quiz: &Quiz,
    memory: &HashMap<String, Vec<String>>,
    recall: f64,
) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for q in &quiz.questions {
        let remembered: Vec<String> = match memory.get(&q.key) {
            Some(right) if chance(recall) => q
                .options
                .iter()
                .filter(|(_, text)| right.contains(text))
                .map(|(id, _)| id.clone())
                .collect(),
            _ => Vec::new(),
        };
        let chosen: Vec<String> = if !remembered.is_empty() {
            if q.multiple {
                remembered
            } else {
                remembered.into_iter().take(1).collect()
            }
        } else if q.multiple {
            let mut picked: Vec<String> = q
                .options
                .iter()
                .filter(|_| chance(0.5))
                .map(|(id, _)| id.clone())
                .collect();
            if picked.is_empty() {
                picked.extend(pick(&q.options).map(|(id, _)| id));
            }
            picked
        } else {
            pick(&q.options).map(|(id, _)| id).into_iter().collect()
        };
        for option in chosen {
            pairs.push((format!("q[{}]", q.id), option));
        }
    }
    pairs
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// A response as the scenario reads it.
struct Page {
    /// Status of the final response (after redirects); 0 when the request failed.
    status: u16,
    /// Path of the final URL (after redirects).
    path: String,
    /// Body as text; for a download only its first bytes.
    body: String,
    /// The request's metric, to mark it failed (or expectedly refused) after the fact.
    request: GooseRequestMetric,
}

/// Sends one named request and reads its response. Goose's client keeps cookies (the
/// session and the CSRF token) and follows redirects, as a browser does.
async fn fetch(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    form_body: Option<String>,
    download: bool,
) -> Result<Page, Box<TransactionError>> {
    let ip = user
        .get_session_data::<Visitor>()
        .and_then(|v| v.ip.clone());
    let mut builder = user.get_request_builder(&method, path)?;
    if let (Some(header), Some(ip)) = (settings().ip_header.as_deref(), ip) {
        builder = builder.header(header, ip);
    }
    if let Some(body) = form_body {
        builder = builder
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(builder)
        .build();
    let goose = user.request(request).await?;
    let mut page = Page {
        status: 0,
        path: String::new(),
        body: String::new(),
        request: goose.request,
    };
    if let Ok(response) = goose.response {
        page.status = response.status().as_u16();
        page.path = response.url().path().to_string();
        if let Ok(bytes) = response.bytes().await {
            let kept = if download {
                bytes.len().min(8)
            } else {
                bytes.len()
            };
            page.body = String::from_utf8_lossy(&bytes[..kept]).into_owned();
        }
    }
    if page.status == 401 {
        // The session is gone (ended, expired): sign in again at the next action.
        if let Some(v) = user.get_session_data_mut::<Visitor>() {
            v.signed_in = false;
        }
    }
    Ok(page)
}

/// Counts a request that answered 2xx as failed (wrong content).
fn fail(user: &GooseUser, page: &mut Page, reason: &str) {
    let _ = user.set_failure(reason, &mut page.request, None, None);
}

// ---------------------------------------------------------------------------------------
// Sign-in (every kind of user)
// ---------------------------------------------------------------------------------------

/// The development sign-in of the benchmark build (src/auth/routes.rs): the sign-in page
/// sets the CSRF cookie and shows the token; the form posts `csrf` first, then `email`,
/// and is answered with a redirect to the catalogue.
async fn sign_in(user: &mut GooseUser) -> TransactionResult {
    let email = visitor(user).email.clone();
    let mut login = fetch(
        user,
        GooseMethod::Get,
        "/connexion",
        "/connexion",
        None,
        false,
    )
    .await?;
    if login.status != 200 {
        return Ok(());
    }
    let Some(token) = csrf_of(&login.body) else {
        fail(user, &mut login, "no csrf field on /connexion");
        return Ok(());
    };
    nav_pause().await;
    let body = form(&[("csrf", &token), ("email", &email)]);
    let mut landing = fetch(
        user,
        GooseMethod::Post,
        "/auth/dev",
        "/auth/dev → /modules",
        Some(body),
        false,
    )
    .await?;
    match landing.status {
        200 if landing.path == "/modules" => {
            let v = visitor(user);
            v.signed_in = true;
            v.csrf = csrf_of(&landing.body).unwrap_or(token);
        }
        200 => fail(
            user,
            &mut landing,
            "the development sign-in opened no session",
        ),
        404 | 405 => warn_once(
            &WARNED_NO_DEV_LOGIN,
            "POST /auth/dev does not exist: the service must be built with `--features dev-login`",
        ),
        422 => warn_once(
            &WARNED_NOT_DEMO,
            &format!(
                "{email} is not a demo account: create the load accounts (bench/load.sh does) \
                 or set LEARNER_ACCOUNTS=0 HR_ACCOUNTS=0 to use the demo people"
            ),
        ),
        _ => {}
    }
    if visitor(user).signed_in {
        // A browser fetches the style sheet once, then keeps it in its cache.
        fetch(
            user,
            GooseMethod::Get,
            "/static/site.css",
            "/static/site.css",
            None,
            true,
        )
        .await?;
    }
    Ok(())
}

/// Gives the user its number, account and session data, then signs it in.
async fn start(user: &mut GooseUser, role: Role) -> TransactionResult {
    let index = settings().index_offset + NEXT_USER.fetch_add(1, Ordering::Relaxed);
    user.set_session_data(Visitor::new(role, index));
    sign_in(user).await
}

async fn learner_start(user: &mut GooseUser) -> TransactionResult {
    start(user, Role::Learner).await
}

async fn browser_start(user: &mut GooseUser) -> TransactionResult {
    start(user, Role::Browser).await
}

async fn hr_start(user: &mut GooseUser) -> TransactionResult {
    start(user, Role::Hr).await
}

// ---------------------------------------------------------------------------------------
// Learners (src/learning/routes.rs, src/certificates/routes.rs)
// ---------------------------------------------------------------------------------------

/// One action of a learner; goose's wait time after it is the time spent reading.
async fn learner_action(user: &mut GooseUser) -> TransactionResult {
    if !visitor(user).signed_in {
        return sign_in(user).await;
    }
    next_action(user);
    let phase = visitor(user).phase;
    match phase {
        Phase::ChooseModule => choose_module(user).await,
        Phase::Reading => read_lesson(user).await,
        Phase::Answering => submit_quiz(user).await,
    }
}

/// Catalogue → a module → its first lesson.
async fn choose_module(user: &mut GooseUser) -> TransactionResult {
    let mut catalogue = fetch(user, GooseMethod::Get, "/modules", "/modules", None, false).await?;
    if catalogue.status != 200 {
        return Ok(());
    }
    let offered: Vec<String> = MODULE_CARD
        .captures_iter(&catalogue.body)
        .map(|c| unescape(&c[1]))
        .collect();
    let slug = {
        let v = visitor(user);
        let mut open: Vec<String> = offered
            .iter()
            .filter(|s| !v.blocked.contains(*s))
            .cloned()
            .collect();
        if open.is_empty() {
            // Every module refused a new attempt: try them again (a new cycle may have opened).
            v.blocked.clear();
            open = offered.clone();
        }
        match &settings().module {
            Some(m) if open.contains(m) => Some(m.clone()),
            Some(m) => {
                warn_once(
                    &WARNED_NO_MODULE,
                    &format!("module {m:?} is not in the catalogue (or has no attempt left): taking others"),
                );
                pick(&open)
            }
            None => pick(&open),
        }
    };
    let Some(slug) = slug else {
        fail(user, &mut catalogue, "the catalogue offers no module");
        return Ok(());
    };
    nav_pause().await;
    let path = format!("/modules/{slug}");
    let module = fetch(
        user,
        GooseMethod::Get,
        &path,
        "/modules/[slug]",
        None,
        false,
    )
    .await?;
    if module.status != 200 {
        return Ok(());
    }
    let lessons = LESSON_LINK
        .captures_iter(&module.body)
        .filter_map(|c| c[1].parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    {
        let v = visitor(user);
        v.module = slug;
        v.lessons = lessons;
        v.next_lesson = 1;
        v.phase = Phase::Reading;
        if let Some(token) = csrf_of(&module.body) {
            v.csrf = token;
        }
    }
    nav_pause().await;
    read_lesson(user).await
}

/// The next lesson; after the last one, the quiz.
async fn read_lesson(user: &mut GooseUser) -> TransactionResult {
    let (slug, number, total) = {
        let v = visitor(user);
        (v.module.clone(), v.next_lesson, v.lessons)
    };
    if number > total {
        return start_quiz(user).await;
    }
    let path = format!("/modules/{slug}/lecons/{number}");
    let lesson = fetch(
        user,
        GooseMethod::Get,
        &path,
        "/modules/[slug]/lecons/[n]",
        None,
        false,
    )
    .await?;
    match lesson.status {
        200 => visitor(user).next_lesson = number + 1,
        404 => visitor(user).phase = Phase::ChooseModule,
        _ => {} // read it again at the next action
    }
    Ok(())
}

/// Marks a module as refusing new attempts and moves on to another one.
fn move_on(user: &mut GooseUser, slug: &str) {
    let v = visitor(user);
    v.blocked.insert(slug.to_string());
    v.phase = Phase::ChooseModule;
}

/// « Terminer et aller au quiz »: the module page, then its quiz button (a POST that starts
/// an attempt, or resumes the one open, and redirects to it), or « Reprendre le quiz ».
async fn start_quiz(user: &mut GooseUser) -> TransactionResult {
    let slug = visitor(user).module.clone();
    let module_path = format!("/modules/{slug}");
    let module = fetch(
        user,
        GooseMethod::Get,
        &module_path,
        "/modules/[slug]",
        None,
        false,
    )
    .await?;
    if module.status != 200 {
        return Ok(());
    }
    if let Some(token) = csrf_of(&module.body) {
        visitor(user).csrf = token;
    }
    let open_attempt = OPEN_ATTEMPT.captures(&module.body).map(|c| unescape(&c[1]));
    let has_button = module
        .body
        .contains(&format!(r#"action="/modules/{slug}/quiz""#));
    nav_pause().await;
    let mut quiz_page = if let Some(attempt) = open_attempt {
        let path = format!("/tentatives/{attempt}");
        fetch(
            user,
            GooseMethod::Get,
            &path,
            "/tentatives/[id]",
            None,
            false,
        )
        .await?
    } else if has_button {
        let token = visitor(user).csrf.clone();
        let path = format!("/modules/{slug}/quiz");
        fetch(
            user,
            GooseMethod::Post,
            &path,
            "/modules/[slug]/quiz → /tentatives/[id]",
            Some(form(&[("csrf", &token)])),
            false,
        )
        .await?
    } else {
        // No quiz button: no attempt left in this cycle (or a prerequisite missing). A
        // learner reads the notice and goes to another module.
        move_on(user, &slug);
        return Ok(());
    };
    if quiz_page.status == 409 {
        // The last attempt was spent meanwhile (another virtual user on the same account):
        // the expected refusal, not a server error.
        let _ = user.set_success(&mut quiz_page.request);
        move_on(user, &slug);
        return Ok(());
    }
    if quiz_page.status != 200 {
        return Ok(());
    }
    let attempt = quiz_page
        .path
        .strip_prefix("/tentatives/")
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .map(str::to_string);
    let Some(attempt) = attempt else {
        // The attempt was already submitted (another virtual user on the same account):
        // its result shows. Choose a module again.
        visitor(user).phase = Phase::ChooseModule;
        return Ok(());
    };
    let questions = parse_quiz(&quiz_page.body);
    if questions.is_empty() {
        fail(user, &mut quiz_page, "quiz page without questions");
        visitor(user).phase = Phase::ChooseModule;
        return Ok(());
    }
    let v = visitor(user);
    if let Some(token) = csrf_of(&quiz_page.body) {
        v.csrf = token;
    }
    v.quiz = Some(Quiz { attempt, questions });
    v.phase = Phase::Answering;
    Ok(())
}

/// Posts the answers (the server grades them and redirects to the result page); when the
/// attempt passed, « Ma progression » and the certificate PDF.
async fn submit_quiz(user: &mut GooseUser) -> TransactionResult {
    let (quiz, token, answers) = {
        let v = visitor(user);
        v.phase = Phase::ChooseModule;
        let quiz = v.quiz.take();
        let answers = quiz
            .as_ref()
            .map(|q| choose_answers(q, &v.memory, settings().recall));
        (quiz, v.csrf.clone(), answers)
    };
    let (Some(quiz), Some(answers)) = (quiz, answers) else {
        return Ok(());
    };
    let mut body = form(&[("csrf", &token)]);
    for (name, value) in &answers {
        body.push('&');
        body.push_str(&encode(name));
        body.push('=');
        body.push_str(&encode(value));
    }
    let path = format!("/tentatives/{}", quiz.attempt);
    let mut result = fetch(
        user,
        GooseMethod::Post,
        &path,
        "/tentatives/[id] → /tentatives/[id]/resultat",
        Some(body),
        false,
    )
    .await?;
    if result.status != 200 {
        return Ok(());
    }
    if !result.path.ends_with("/resultat") {
        fail(
            user,
            &mut result,
            "the submission did not lead to the result page",
        );
        return Ok(());
    }
    learn(&result.body, &mut visitor(user).memory);
    if !result.body.contains("result-passed") {
        return Ok(());
    }
    // Passed: the new certificate is the first one listed on « Ma progression ».
    nav_pause().await;
    let progress = fetch(
        user,
        GooseMethod::Get,
        "/progression",
        "/progression",
        None,
        false,
    )
    .await?;
    let number = CERTIFICATE_PDF
        .captures(&progress.body)
        .map(|c| unescape(&c[1]));
    let Some(number) = number else {
        return Ok(());
    };
    remember_certificate(&number);
    nav_pause().await;
    let path = format!("/certificats/{number}/pdf");
    let mut pdf = fetch(
        user,
        GooseMethod::Get,
        &path,
        "/certificats/[numero]/pdf",
        None,
        true,
    )
    .await?;
    if pdf.status == 200 && !pdf.body.starts_with("%PDF") {
        fail(user, &mut pdf, "the certificate download is not a PDF");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Progress viewers
// ---------------------------------------------------------------------------------------

/// « Ma progression », then the public verification page, in turn.
async fn browser_action(user: &mut GooseUser) -> TransactionResult {
    if !visitor(user).signed_in {
        return sign_in(user).await;
    }
    let action = next_action(user);
    if action % 2 == 1 {
        let progress = fetch(
            user,
            GooseMethod::Get,
            "/progression",
            "/progression",
            None,
            false,
        )
        .await?;
        let numbers: Vec<String> = CERTIFICATE_PDF
            .captures_iter(&progress.body)
            .map(|c| unescape(&c[1]))
            .collect();
        for number in numbers {
            remember_certificate(&number);
        }
        return Ok(());
    }
    fetch(user, GooseMethod::Get, "/verify", "/verify", None, false).await?;
    let due = visitor(user)
        .last_verify
        .map_or(true, |t| t.elapsed() >= settings().verify_interval);
    let number = if due { random_certificate() } else { None };
    if let Some(number) = number {
        nav_pause().await;
        visitor(user).last_verify = Some(Instant::now());
        // The form (GET /verify?numero=…) redirects to the certificate's page.
        let path = format!("/verify?numero={}", encode(&number));
        let mut page = fetch(
            user,
            GooseMethod::Get,
            &path,
            "/verify?numero=[numero] → /verify/[numero]",
            None,
            false,
        )
        .await?;
        if page.status == 200 && !page.path.starts_with("/verify/") {
            fail(
                user,
                &mut page,
                "the verification form did not lead to the certificate",
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HR staff (src/people/routes.rs, src/certificates/routes.rs)
// ---------------------------------------------------------------------------------------

/// The people list, then the certificate export, in turn.
async fn hr_action(user: &mut GooseUser) -> TransactionResult {
    if !visitor(user).signed_in {
        return sign_in(user).await;
    }
    let action = next_action(user);
    if action % 2 == 1 {
        people(user).await
    } else {
        certificate_export(user).await
    }
}

/// « Personnes »: the first page, sometimes the next one, sometimes a search.
async fn people(user: &mut GooseUser) -> TransactionResult {
    let list = fetch(
        user,
        GooseMethod::Get,
        "/personnes",
        "/personnes",
        None,
        false,
    )
    .await?;
    if list.status != 200 {
        return Ok(());
    }
    let next = NEXT_PAGE.captures(&list.body).map(|c| unescape(&c[1]));
    if let Some(next) = next.filter(|_| chance(0.5)) {
        nav_pause().await;
        fetch(
            user,
            GooseMethod::Get,
            &next,
            "/personnes?page=[n]",
            None,
            false,
        )
        .await?;
    }
    if chance(0.3) {
        let term = pick(SEARCH_TERMS).unwrap_or("martin");
        nav_pause().await;
        let path = format!("/personnes?q={}", encode(term));
        fetch(
            user,
            GooseMethod::Get,
            &path,
            "/personnes?q=[terme]",
            None,
            false,
        )
        .await?;
    }
    Ok(())
}

/// « Attestations »: the export form; sometimes an export of one service over the form's
/// period (this year), followed until the ZIP is ready, then downloaded.
async fn certificate_export(user: &mut GooseUser) -> TransactionResult {
    let export_form = fetch(
        user,
        GooseMethod::Get,
        "/rh/certificats",
        "/rh/certificats",
        None,
        false,
    )
    .await?;
    if export_form.status != 200 || !chance(settings().hr_export_share) {
        return Ok(());
    }
    let token = csrf_of(&export_form.body).unwrap_or_else(|| visitor(user).csrf.clone());
    let units: Vec<String> = UNIT_SELECT
        .captures(&export_form.body)
        .map(|c| {
            OPTION_VALUE
                .captures_iter(&c[1])
                .map(|o| unescape(&o[1]))
                .collect()
        })
        .unwrap_or_default();
    let unit = pick(&units).unwrap_or_default(); // "": every service
    let from = DATE_FROM
        .captures(&export_form.body)
        .map(|c| unescape(&c[1]))
        .unwrap_or_default();
    let to = DATE_TO
        .captures(&export_form.body)
        .map(|c| unescape(&c[1]))
        .unwrap_or_default();
    nav_pause().await;
    let body = form(&[
        ("csrf", &token),
        ("unit", &unit),
        ("from", &from),
        ("to", &to),
    ]);
    let job = fetch(
        user,
        GooseMethod::Post,
        "/rh/certificats/export",
        "/rh/certificats/export → /rh/certificats/export/[id]",
        Some(body),
        false,
    )
    .await?;
    if job.status != 200 {
        return Ok(());
    }
    let Some(id) = job
        .path
        .strip_prefix("/rh/certificats/export/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(str::to_string)
    else {
        return Ok(());
    };
    let state_path = format!("/rh/certificats/export/{id}/etat");
    for _ in 0..settings().export_polls {
        tokio::time::sleep(poll_interval()).await;
        let mut state = fetch(
            user,
            GooseMethod::Get,
            &state_path,
            "/rh/certificats/export/[id]/etat",
            None,
            false,
        )
        .await?;
        if state.status != 200 {
            break;
        }
        if state.body.contains(r#""state":"done""#) {
            let zip_path = format!("/rh/certificats/export/{id}/zip");
            let mut zip = fetch(
                user,
                GooseMethod::Get,
                &zip_path,
                "/rh/certificats/export/[id]/zip",
                None,
                true,
            )
            .await?;
            if zip.status == 200 && !zip.body.starts_with("PK") {
                fail(user, &mut zip, "the export is not a ZIP file");
            }
            break;
        }
        if state.body.contains(r#""state":"failed""#) {
            fail(user, &mut state, "the export failed");
            break;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------

/// The response time below which a share `p` of the requests fall (goose's histogram keeps
/// milliseconds exactly up to 100 ms, then rounds to 10 ms, 100 ms and 1 s steps).
fn percentile(times: &BTreeMap<usize, usize>, p: f64) -> usize {
    let total: usize = times.values().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((p * total as f64).ceil() as usize).max(1);
    let mut seen = 0;
    for (ms, count) in times {
        seen += count;
        if seen >= rank {
            return *ms;
        }
    }
    times.keys().next_back().copied().unwrap_or(0)
}

/// Writes the figures bench/load.sh reads: totals, percentiles, the merged histogram (so
/// that the summaries of two goose processes can be merged exactly), per route, errors.
fn write_summary(metrics: &GooseMetrics, path: &str) {
    let mut all: BTreeMap<usize, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let (mut requests, mut failures, mut max_ms) = (0usize, 0usize, 0usize);
    let mut routes = Vec::new();
    let mut keys: Vec<&String> = metrics.requests.keys().collect();
    keys.sort();
    for key in keys {
        let r = &metrics.requests[key];
        let count = r.success_count + r.fail_count;
        requests += count;
        failures += r.fail_count;
        max_ms = max_ms.max(r.raw_data.maximum_time);
        for (ms, n) in &r.raw_data.times {
            *all.entry(*ms).or_insert(0) += *n;
        }
        for (code, n) in &r.status_code_counts {
            *statuses.entry(*code).or_insert(0) += *n;
        }
        let average = if r.raw_data.counter > 0 {
            r.raw_data.total_time as f64 / r.raw_data.counter as f64
        } else {
            0.0
        };
        routes.push(json!({
            "route": key,
            "requests": count,
            "failures": r.fail_count,
            "avg_ms": (average * 10.0).round() / 10.0,
            "p50_ms": percentile(&r.raw_data.times, 0.50),
            "p95_ms": percentile(&r.raw_data.times, 0.95),
            "p99_ms": percentile(&r.raw_data.times, 0.99),
            "max_ms": r.raw_data.maximum_time,
        }));
    }
    let duration = metrics.duration.max(1);
    let histogram: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .map(|(ms, n)| (ms.to_string(), json!(n)))
        .collect();
    let status_codes: serde_json::Map<String, serde_json::Value> = statuses
        .iter()
        .map(|(c, n)| (c.to_string(), json!(n)))
        .collect();
    let errors: Vec<serde_json::Value> = metrics
        .errors
        .values()
        .map(|e| json!({ "error": e.error, "occurrences": e.occurrences }))
        .collect();
    let summary = json!({
        "settings": settings().describe(),
        "users": metrics.maximum_users,
        "duration_secs": metrics.duration,
        "requests": requests,
        "failures": failures,
        "rps": requests as f64 / duration as f64,
        "p50_ms": percentile(&all, 0.50),
        "p95_ms": percentile(&all, 0.95),
        "p99_ms": percentile(&all, 0.99),
        "max_ms": max_ms,
        "status_codes": status_codes,
        "histogram_ms": histogram,
        "routes": routes,
        "errors": errors,
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_else(|_| "{}".into());
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("reperes-load: cannot write the summary {path}: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

/// The `--host` given to goose, if any.
fn target_host() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--host=") {
            return Some(v.to_string());
        }
        if a == "--host" || a == "-H" {
            return args.get(i + 1).cloned();
        }
        if let Some(v) = a.strip_prefix("-H").filter(|v| !v.is_empty()) {
            return Some(v.to_string());
        }
    }
    None
}

/// Whether a base URL points at this machine (loopback).
fn is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The think time, as goose's wait between two transactions of a user.
fn with_think_time(scenario: Scenario) -> Result<Scenario, GooseError> {
    match settings().think {
        Some((min, max)) => scenario.set_wait_time(min, max),
        None => Ok(scenario),
    }
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    // This scenario signs in with the development sign-in, which only a benchmark build on
    // this machine has: refuse any other target unless explicitly allowed.
    if let Some(host) = target_host() {
        if !is_local(&host) && std::env::var("LOAD_ALLOW_REMOTE").as_deref() != Ok("1") {
            eprintln!(
                "reperes-load: --host {host} is not on this machine; set LOAD_ALLOW_REMOTE=1 to load another host"
            );
            std::process::exit(2);
        }
    }
    let s = settings();
    eprintln!("reperes-load: {}", s.describe());
    let [learners, browsers, hr] = s.weights;
    let mut attack = GooseAttack::initialize()?;
    if learners > 0 {
        attack = attack.register_scenario(
            with_think_time(scenario!("Learner").set_weight(learners)?)?
                .register_transaction(
                    transaction!(learner_start)
                        .set_on_start()
                        .set_name("learner: sign in"),
                )
                .register_transaction(transaction!(learner_action).set_name("learner: action")),
        );
    }
    if browsers > 0 {
        attack = attack.register_scenario(
            with_think_time(scenario!("ProgressViewer").set_weight(browsers)?)?
                .register_transaction(
                    transaction!(browser_start)
                        .set_on_start()
                        .set_name("progress viewer: sign in"),
                )
                .register_transaction(
                    transaction!(browser_action).set_name("progress viewer: action"),
                ),
        );
    }
    if hr > 0 {
        attack = attack.register_scenario(
            with_think_time(scenario!("HrStaff").set_weight(hr)?)?
                .register_transaction(
                    transaction!(hr_start)
                        .set_on_start()
                        .set_name("HR: sign in"),
                )
                .register_transaction(transaction!(hr_action).set_name("HR: action")),
        );
    }
    let metrics = attack.execute().await?;
    if let Some(path) = &s.summary_file {
        write_summary(&metrics, path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIZ: &str = r#"<form method="post" action="/tentatives/0b6e" class="quiz"><input type="hidden" name="csrf" value="tok-en_1">
  <fieldset class="question" id="question-q0">
    <legend><span class="question-number">Question 1</span> Question de mesure 0 ?</legend>
    <div class="option">
      <input type="radio" name="q[q0]" value="a" id="q-q0-a">
      <label for="q-q0-a">Réponse A</label>
    </div>
    <div class="option">
      <input type="radio" name="q[q0]" value="b" id="q-q0-b">
      <label for="q-q0-b">Réponse B</label>
    </div>
  </fieldset>
  <fieldset class="question" id="question-m1">
    <legend><span class="question-number">Question 2</span> Lesquels ? <span class="hint">(plusieurs réponses possibles)</span></legend>
    <p class="situation"><span class="situation-label">Situation :</span> Au guichet</p>
    <div class="option">
      <input type="checkbox" name="q[m1]" value="x" id="q-m1-x">
      <label for="q-m1-x">L&#x27;un</label>
    </div>
    <div class="option">
      <input type="checkbox" name="q[m1]" value="y" id="q-m1-y">
      <label for="q-m1-y">L&#x27;autre</label>
    </div>
  </fieldset>
</form>"#;

    const RESULT: &str = r#"<ol class="corrections">
  <li class="correction">
    <h3><span class="question-number">Question 1</span> Question de mesure 0 ?</h3>
    <p class="verdict verdict-ko">Réponse incorrecte</p>
    <ul class="option-feedback">
      <li class=" right">
        <p class="option-text">Réponse A</p>
        <p class="option-marks">
          <span class="tag tag-right">Bonne réponse</span></p>
        <p class="explanation">A est juste.</p>
      </li>
      <li class="chosen ">
        <p class="option-text">Réponse B</p>
        <p class="option-marks"><span class="tag tag-chosen">Votre réponse</span>
          </p>
        <p class="explanation">B est fausse.</p>
      </li>
    </ul>
  </li>
  <li class="correction">
    <h3><span class="question-number">Question 2</span> Lesquels ?</h3>
    <p class="situation"><span class="situation-label">Situation :</span> Au guichet</p>
    <ul class="option-feedback">
      <li class="chosen right">
        <p class="option-text">L&#x27;un</p>
        <p class="option-marks"><span class="tag tag-chosen">Votre réponse</span>
          </p>
      </li>
      <li class=" ">
        <p class="option-text">L&#x27;autre</p>
        <p class="option-marks">
          <span class="tag tag-grade-appropriate">Réponse adaptée</span></p>
      </li>
    </ul>
  </li>
</ol>"#;

    #[test]
    fn reads_a_quiz_learns_its_correction_and_answers_it() {
        assert_eq!(csrf_of(QUIZ).as_deref(), Some("tok-en_1"));
        let questions = parse_quiz(QUIZ);
        assert_eq!(questions.len(), 2);
        assert_eq!(questions[0].id, "q0");
        assert!(!questions[0].multiple);
        assert_eq!(
            questions[0].options[1],
            ("b".to_string(), "Réponse B".to_string())
        );
        assert!(questions[1].multiple);
        assert_eq!(questions[1].key, "Lesquels ?\nAu guichet");

        let mut memory = HashMap::new();
        learn(RESULT, &mut memory);
        assert_eq!(
            memory.get("Question de mesure 0 ?"),
            Some(&vec!["Réponse A".to_string()])
        );
        assert_eq!(memory.get("Lesquels ?\nAu guichet").map(Vec::len), Some(2));

        let quiz = Quiz {
            attempt: "0b6e".into(),
            questions,
        };
        let answers = choose_answers(&quiz, &memory, 1.0);
        assert_eq!(
            answers,
            vec![
                ("q[q0]".to_string(), "a".to_string()),
                ("q[m1]".to_string(), "x".to_string()),
                ("q[m1]".to_string(), "y".to_string()),
            ]
        );
        let random = choose_answers(&quiz, &HashMap::new(), 1.0);
        assert_eq!(random.iter().filter(|(q, _)| q == "q[q0]").count(), 1);
        assert!(random.iter().any(|(q, _)| q == "q[m1]"));
    }

    #[test]
    fn forms_keep_csrf_first_and_encode_values() {
        assert_eq!(
            form(&[
                ("csrf", "a-b_c"),
                ("email", "camille.martin@demo.reperes.test")
            ]),
            "csrf=a-b_c&email=camille.martin%40demo.reperes.test"
        );
        assert_eq!(encode("q[m1]"), "q%5Bm1%5D");
        assert_eq!(encode("Ville de Nancy/CCAS"), "Ville%20de%20Nancy%2FCCAS");
        assert_eq!(
            unescape("/personnes?page&#x3D;2&amp;q&#x3D;x"),
            "/personnes?page=2&q=x"
        );
    }

    #[test]
    fn percentiles_and_hosts() {
        let times: BTreeMap<usize, usize> = [(1, 50), (10, 45), (200, 5)].into_iter().collect();
        assert_eq!(percentile(&times, 0.5), 1);
        assert_eq!(percentile(&times, 0.95), 10);
        assert_eq!(percentile(&times, 0.99), 200);
        assert!(is_local("http://127.0.0.1:8087"));
        assert!(is_local("http://localhost:8087/"));
        assert!(is_local("http://[::1]:8087"));
        assert!(!is_local("https://reperes.example.org"));
        assert_eq!(client_ip(0), "198.18.0.0");
        assert_eq!(client_ip(65_536 + 257), "198.19.1.1");
    }
}
