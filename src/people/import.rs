//! The HR directory import: a CSV export of the HR system (matricule, e-mail, names, org
//! unit path, audiences, job title, hire date, and optionally sex, category, job family and
//! management duty — used only in aggregates) turned into
//! a plan of creations, changes and deactivations. Pure: parsing and planning only; the
//! store applies a plan in one transaction. Any bad line rejects the whole file.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::Audience;

/// The expected columns, in any order (header names are case-insensitive).
pub const COLUMNS: [&str; 12] = [
    "matricule",
    "courriel",
    "nom",
    "prenom",
    "service",
    "publics",
    "fonction",
    "date_entree",
    "sexe",
    "categorie",
    "filiere",
    "encadrement",
];

/// The categories a directory line may carry (`contractuel` for contract staff).
pub const CATEGORIES: [&str; 4] = ["A", "B", "C", "CONTRACTUEL"];
const REQUIRED: [&str; 7] = [
    "matricule",
    "courriel",
    "nom",
    "prenom",
    "service",
    "publics",
    "date_entree",
];

/// One valid line of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub line: usize,
    pub employee_number: String,
    pub email: String,
    pub display_name: String,
    pub org_path: String,
    pub audiences: Vec<Audience>,
    pub job_title: Option<String>,
    pub hire_date: NaiveDate,
    pub sex: Option<String>,
    pub category: Option<String>,
    /// `None`: the file has no `filiere` column, the stored value is kept.
    pub job_family: Option<Option<String>>,
    /// `None`: the file has no `encadrement` column, the stored value is kept.
    pub manages: Option<bool>,
}

/// A person as the directory knows them now.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: uuid::Uuid,
    pub employee_number: Option<String>,
    pub email: String,
    pub display_name: String,
    pub org_path: Option<String>,
    pub audiences: String,
    pub job_title: Option<String>,
    pub hire_date: Option<NaiveDate>,
    pub sex: Option<String>,
    pub category: Option<String>,
    pub job_family: Option<String>,
    pub manages: bool,
    pub active: bool,
    pub from_directory: bool,
    /// A partner's account or an administrator: the HR file never links, changes or
    /// deactivates it.
    pub protected: bool,
}

/// What an import will do.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub create: Vec<Row>,
    /// The row, the id it updates and the fields that change.
    pub update: Vec<(Row, uuid::Uuid, Vec<&'static str>)>,
    pub deactivate: Vec<(uuid::Uuid, String)>,
    pub unchanged: usize,
}

/// A bad line: `line N: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d/%m/%Y"))
        .ok()
}

fn plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
        && s.len() <= 254
}

/// Columns a file may have at most (the known ones, with room for a few extra).
pub const MAX_COLUMNS: usize = 40;
/// Problems reported at most; the rest are counted in a last line.
pub const MAX_ERRORS: usize = 100;
/// Characters of a file's own text quoted in a message at most.
const MAX_QUOTED: usize = 60;

/// A piece of the file quoted in a message, cut to a readable length.
fn quoted(s: &str) -> String {
    if s.chars().count() <= MAX_QUOTED {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX_QUOTED).collect::<String>())
    }
}

/// Keeps the first [`MAX_ERRORS`] problems and counts the others in a last line.
fn capped(mut errors: Vec<LineError>, more: usize) -> Vec<LineError> {
    if more > 0 {
        let line = errors.last().map(|e| e.line).unwrap_or(1);
        errors.push(LineError {
            line,
            message: format!("… and {more} more problems not listed (fix these first)"),
        });
    }
    errors
}

/// Parses the file; every bad line is reported (up to [`MAX_ERRORS`]), none is kept when
/// any is bad. Sizes are checked before messages are built, so a hostile file (a header of
/// a million columns) gets a short answer.
pub fn parse(text: &str) -> Result<Vec<Row>, Vec<LineError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let err = |line: usize, message: String| LineError { line, message };
    let headers = match reader.headers() {
        Ok(h) if h.len() > MAX_COLUMNS => {
            return Err(vec![err(
                1,
                format!(
                    "the header has {} columns, at most {MAX_COLUMNS} are accepted (expected: {})",
                    h.len(),
                    COLUMNS.join(", ")
                ),
            )])
        }
        Ok(h) => h.iter().map(|h| h.to_lowercase()).collect::<Vec<_>>(),
        Err(e) => return Err(vec![err(1, format!("unreadable header: {e}"))]),
    };
    let mut errors = Vec::new();
    for required in REQUIRED {
        if !headers.iter().any(|h| h == required) {
            errors.push(err(
                1,
                format!(
                    "missing column \"{required}\" (expected: {})",
                    COLUMNS.join(", ")
                ),
            ));
        }
    }
    let unknown: Vec<String> = headers
        .iter()
        .filter(|h| !COLUMNS.contains(&h.as_str()))
        .map(|h| format!("\"{}\"", quoted(h)))
        .collect();
    if !unknown.is_empty() {
        errors.push(err(
            1,
            format!(
                "unknown column{} {} (expected: {})",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.join(", "),
                COLUMNS.join(", ")
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let idx: HashMap<&str, Option<usize>> = COLUMNS.iter().map(|c| (*c, col(c))).collect();
    let mut rows = Vec::new();
    let mut numbers: HashMap<String, usize> = HashMap::new();
    let mut emails: HashMap<String, usize> = HashMap::new();
    let mut more = 0usize;
    // Past the cap, problems are only counted: memory stays bounded whatever the file.
    let mut report = |errors: &mut Vec<LineError>, e: LineError| {
        if errors.len() < MAX_ERRORS {
            errors.push(e);
        } else {
            more += 1;
        }
    };
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report(&mut errors, err(line, format!("unreadable line: {e}")));
                continue;
            }
        };
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        if record.len() != headers.len() {
            report(
                &mut errors,
                err(
                    line,
                    format!("{} fields, the header has {}", record.len(), headers.len()),
                ),
            );
            continue;
        }
        let get = |c: &str| idx[c].and_then(|i| record.get(i)).unwrap_or("").to_string();
        let mut problems = Vec::new();
        let number = get("matricule");
        if number.is_empty() || number.len() > 32 {
            problems.push("matricule is empty or longer than 32 characters".to_string());
        } else if let Some(first) = numbers.insert(number.clone(), line) {
            problems.push(format!(
                "matricule {} already on line {first}",
                quoted(&number)
            ));
        }
        let email = get("courriel").to_lowercase();
        if !plausible_email(&email) {
            problems.push(format!("invalid e-mail address \"{}\"", quoted(&email)));
        } else if let Some(first) = emails.insert(email.clone(), line) {
            problems.push(format!("e-mail {} already on line {first}", quoted(&email)));
        }
        let (last, given) = (get("nom"), get("prenom"));
        if last.is_empty() || given.is_empty() {
            problems.push("nom and prenom are required".into());
        }
        let service = get("service");
        let segments: Vec<String> = service.split('/').map(|s| s.trim().to_string()).collect();
        if service.is_empty() || segments.iter().any(|s| s.is_empty()) {
            problems.push(format!(
                "invalid org unit path \"{}\" (expected \"Direction/Service\")",
                quoted(&service)
            ));
        }
        let mut audiences = Vec::new();
        for code in get("publics")
            .split([' ', ',', '|', '+'])
            .filter(|s| !s.is_empty())
        {
            match Audience::parse(&code.to_lowercase()) {
                Some(a) if !audiences.contains(&a) => audiences.push(a),
                Some(_) => {}
                None => problems.push(format!(
                    "unknown audience \"{}\" (expected: {})",
                    quoted(code),
                    Audience::ALL.map(Audience::code).join(", ")
                )),
            }
        }
        if audiences.is_empty() {
            audiences.push(Audience::Tous);
        }
        let hire = get("date_entree");
        let hire_date = parse_date(&hire);
        if hire_date.is_none() {
            problems.push(format!(
                "invalid date_entree \"{}\" (expected YYYY-MM-DD or DD/MM/YYYY)",
                quoted(&hire)
            ));
        }
        let sex = match get("sexe").to_uppercase().as_str() {
            "" => None,
            "F" => Some("F".to_string()),
            "M" | "H" => Some("M".to_string()),
            other => {
                problems.push(format!(
                    "invalid sexe \"{}\" (expected F, M or empty)",
                    quoted(other)
                ));
                None
            }
        };
        let category = match get("categorie").to_uppercase().as_str() {
            "" => None,
            c @ ("A" | "B" | "C") => Some(c.to_string()),
            "CONTRACTUEL" | "CONTRACTUELLE" | "CONTRACTUEL(LE)" => Some("CONTRACTUEL".to_string()),
            other => {
                problems.push(format!(
                    "invalid categorie \"{}\" (expected A, B, C, contractuel or empty)",
                    quoted(other)
                ));
                None
            }
        };
        let job_family = idx["filiere"].map(|_| {
            let f = get("filiere");
            (!f.is_empty()).then_some(f)
        });
        let manages = match idx["encadrement"] {
            None => None,
            Some(_) => match get("encadrement").to_lowercase().as_str() {
                "" | "non" | "n" | "0" | "false" => Some(false),
                "oui" | "o" | "1" | "true" | "x" => Some(true),
                other => {
                    problems.push(format!(
                        "invalid encadrement \"{}\" (expected oui, non or empty)",
                        quoted(other)
                    ));
                    None
                }
            },
        };
        if !problems.is_empty() {
            for m in problems {
                report(&mut errors, err(line, m));
            }
            continue;
        }
        let job = get("fonction");
        rows.push(Row {
            line,
            employee_number: number,
            email,
            display_name: format!("{given} {last}"),
            org_path: segments.join("/"),
            audiences,
            job_title: (!job.is_empty()).then_some(job),
            hire_date: hire_date.unwrap_or_default(),
            sex,
            category,
            job_family,
            manages,
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(capped(errors, more))
    }
}

fn audiences_text(a: &[Audience]) -> String {
    a.iter().map(|x| x.code()).collect::<Vec<_>>().join(" ")
}

/// Compares the file with the people known now.
pub fn plan(rows: Vec<Row>, existing: &[Existing]) -> Result<Plan, Vec<LineError>> {
    let by_number: HashMap<&str, &Existing> = existing
        .iter()
        .filter_map(|e| e.employee_number.as_deref().map(|n| (n, e)))
        .collect();
    let by_email: HashMap<&str, &Existing> =
        existing.iter().map(|e| (e.email.as_str(), e)).collect();
    let mut plan = Plan::default();
    let mut errors = Vec::new();
    let mut seen: HashSet<uuid::Uuid> = HashSet::new();
    for row in rows {
        let target = by_number
            .get(row.employee_number.as_str())
            .copied()
            .or_else(|| {
                by_email
                    .get(row.email.as_str())
                    .copied()
                    .filter(|e| e.employee_number.is_none())
            });
        if let Some(owner) = by_email.get(row.email.as_str()) {
            if target.is_none_or(|t| t.id != owner.id) {
                errors.push(LineError {
                    line: row.line,
                    message: format!(
                        "e-mail {} already belongs to another person{}",
                        row.email,
                        owner
                            .employee_number
                            .as_deref()
                            .map(|n| format!(" (matricule {n})"))
                            .unwrap_or_default()
                    ),
                });
                continue;
            }
        }
        match target {
            None => plan.create.push(row),
            Some(e) if e.protected => errors.push(LineError {
                line: row.line,
                message: format!(
                    "e-mail {} belongs to a partner's account or an administrator: the HR file cannot change it",
                    quoted(&row.email)
                ),
            }),
            Some(e) => {
                seen.insert(e.id);
                let mut changed = Vec::new();
                if e.employee_number.as_deref() != Some(row.employee_number.as_str()) {
                    changed.push("matricule");
                }
                if e.email != row.email {
                    changed.push("courriel");
                }
                if e.display_name != row.display_name {
                    changed.push("nom");
                }
                if e.org_path.as_deref() != Some(row.org_path.as_str()) {
                    changed.push("service");
                }
                if e.audiences != audiences_text(&row.audiences) {
                    changed.push("publics");
                }
                if e.job_title != row.job_title {
                    changed.push("fonction");
                }
                if e.hire_date != Some(row.hire_date) {
                    changed.push("date_entree");
                }
                if e.sex != row.sex {
                    changed.push("sexe");
                }
                if e.category != row.category {
                    changed.push("categorie");
                }
                if row.job_family.as_ref().is_some_and(|f| *f != e.job_family) {
                    changed.push("filiere");
                }
                if row.manages.is_some_and(|m| m != e.manages) {
                    changed.push("encadrement");
                }
                if !e.active {
                    changed.push("réactivation");
                }
                if !e.from_directory {
                    changed.push("source");
                }
                if changed.is_empty() {
                    plan.unchanged += 1;
                } else {
                    let id = e.id;
                    plan.update.push((row, id, changed));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    plan.deactivate = existing
        .iter()
        .filter(|e| e.from_directory && e.active && !e.protected && !seen.contains(&e.id))
        .map(|e| (e.id, e.email.clone()))
        .collect();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "matricule;courriel;nom;prenom;service;publics;fonction;date_entree;sexe;categorie";

    #[test]
    fn a_good_file_parses() {
        let text = format!("{HEADER}\nA1;Nadia.B@ville.test;Bouzid;Nadia;Ville/Accueil;accueil tous;Agente;2019-03-01;F;C\nA2;t@ville.test;Girard;Thomas;Ville/RH;rh;;01/09/2020;;\n");
        let rows = parse(&text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "nadia.b@ville.test");
        assert_eq!(rows[0].display_name, "Nadia Bouzid");
        assert_eq!(rows[0].audiences, vec![Audience::Accueil, Audience::Tous]);
        assert_eq!(
            rows[1].hire_date,
            NaiveDate::from_ymd_opt(2020, 9, 1).unwrap()
        );
        assert_eq!(rows[1].sex, None);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = format!("{HEADER}\nA1;pas-une-adresse;B;N;Ville/Accueil;pompiers;;2019-13-01;Z;D\nA1;x@ville.test;B;N;Ville//Accueil;tous;;2019-01-01;;\n");
        let errors = parse(&text).unwrap_err();
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 2: invalid e-mail address")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 2: unknown audience \"pompiers\"")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 2: invalid date_entree")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("line 2: invalid sexe")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 2: invalid categorie")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l == "line 3: matricule A1 already on line 2"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 3: invalid org unit path")),
            "{lines:?}"
        );
    }

    #[test]
    fn missing_and_unknown_columns_are_reported_on_line_1() {
        let errors = parse("matricule,courriel,nom\nA1,a@b.fr,X\n").unwrap_err();
        assert!(errors.iter().all(|e| e.line == 1));
        assert!(errors.iter().any(|e| e.message.contains("\"prenom\"")));
        let errors = parse(&format!("{HEADER};age\n")).unwrap_err();
        assert!(errors[0].message.contains("unknown column \"age\""));
    }

    fn existing(number: &str, email: &str, from_directory: bool) -> Existing {
        Existing {
            id: uuid::Uuid::new_v4(),
            employee_number: Some(number.into()),
            email: email.into(),
            display_name: "Nadia Bouzid".into(),
            org_path: Some("Ville/Accueil".into()),
            audiences: "accueil tous".into(),
            job_title: Some("Agente".into()),
            hire_date: NaiveDate::from_ymd_opt(2019, 3, 1),
            sex: Some("F".into()),
            category: Some("C".into()),
            job_family: None,
            manages: false,
            active: true,
            from_directory,
            protected: false,
        }
    }

    #[test]
    fn a_hostile_file_gets_a_short_answer() {
        // A header of 500,000 columns: one line, not one per column.
        let wide = "a,".repeat(500_000);
        let errors = parse(&wide).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.len() < 300, "{}", errors[0].message);
        // Thirty-five unknown columns: one line naming them.
        let header = (0..35)
            .map(|i| format!("col{i}"))
            .collect::<Vec<_>>()
            .join(";");
        let errors = parse(&format!("{header}\n")).unwrap_err();
        assert!(errors.len() <= 1 + REQUIRED.len());
        // 10,000 bad lines with long values: the first hundred, then a count.
        let long = "x".repeat(10_000);
        let mut file = format!("{}\n", COLUMNS.join(";"));
        for i in 0..10_000 {
            file.push_str(&format!("M{i};{long};N;P;Ville/S;tous;;2020-01-01;;\n"));
        }
        let errors = parse(&file).unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert!(
            errors
                .last()
                .unwrap()
                .message
                .contains("9900 more problems"),
            "{}",
            errors.last().unwrap().message
        );
        assert!(errors.iter().all(|e| e.message.len() < 400));
    }

    #[test]
    fn plans_create_change_keep_and_deactivate() {
        let text = format!("{HEADER}\nA1;nadia.b@ville.test;Bouzid;Nadia;Ville/Accueil;accueil tous;Agente;2019-03-01;F;C\nA2;t@ville.test;Girard;Thomas;Ville/RH;rh;;2020-09-01;;\nA3;z@ville.test;Zed;Zoé;Ville/RH;rh;;2020-09-01;;\n");
        let rows = parse(&text).unwrap();
        let mut a2 = existing("A2", "t@ville.test", true);
        a2.display_name = "Thomas Girard".into();
        let people = vec![
            existing("A1", "nadia.b@ville.test", true),
            a2,
            existing("A9", "gone@ville.test", true),
            existing("X", "demo@ville.test", false),
        ];
        let plan = plan(rows, &people).unwrap();
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].employee_number, "A3");
        assert_eq!(plan.update.len(), 1);
        assert!(plan.update[0].2.contains(&"service"));
        assert_eq!(plan.deactivate.len(), 1, "only directory people leave");
        assert_eq!(plan.deactivate[0].1, "gone@ville.test");
    }

    #[test]
    fn an_email_owned_by_someone_else_is_an_error() {
        let text = format!(
            "{HEADER}\nB7;nadia.b@ville.test;Bouzid;Nadia;Ville/Accueil;tous;;2019-03-01;;\n"
        );
        let err = plan(
            parse(&text).unwrap(),
            &[existing("A1", "nadia.b@ville.test", true)],
        )
        .unwrap_err();
        assert_eq!(err[0].line, 2);
        assert!(err[0].message.contains("matricule A1"));
    }
}
