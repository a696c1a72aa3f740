//! The OpenAPI 3 description of `/api/v1`. A test checks that every mounted API route
//! appears here, so the document cannot fall behind the code.

use serde_json::{json, Value};

fn error_responses() -> Value {
    json!({
        "401": { "$ref": "#/components/responses/Unauthorized" },
        "404": { "$ref": "#/components/responses/NotFound" }
    })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn with_errors(mut responses: Value, extra: &[(&str, &str)]) -> Value {
    if let (Some(map), Value::Object(errors)) = (responses.as_object_mut(), error_responses()) {
        map.extend(errors);
        for (code, description) in extra {
            map.insert(
                code.to_string(),
                json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }),
            );
        }
    }
    responses
}

fn param(name: &str, description: &str, format: Option<&str>) -> Value {
    let mut schema = json!({ "type": "string" });
    if let Some(f) = format {
        schema["format"] = json!(f);
    }
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

/// The document served at `/api/v1/openapi.json`. Every operation that needs a person
/// (no `security` of its own: the session only) also documents the 403 that an API token
/// gets there.
pub fn document() -> Value {
    let mut doc = described();
    for extra in [training_paths(), equality_paths()] {
        if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), extra) {
            paths.extend(more);
        }
    }
    for extra in [training_schemas(), equality_schemas()] {
        if let (Some(schemas), Value::Object(more)) =
            (doc["components"]["schemas"].as_object_mut(), extra)
        {
            schemas.extend(more);
        }
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for operation in paths
            .values_mut()
            .filter_map(Value::as_object_mut)
            .flat_map(|ops| ops.values_mut())
        {
            if operation.get("security").is_none() {
                if let Some(responses) = operation["responses"].as_object_mut() {
                    responses.entry("403").or_insert_with(|| json!({
                        "description": "Un jeton d'API ne représente pas une personne : cette ressource demande une session.",
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                    }));
                }
            }
        }
    }
    doc
}

fn described() -> Value {
    let slug = param("slug", "Identifiant du module", None);
    let id = param("id", "Identifiant de la tentative", Some("uuid"));
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Repères API",
            "version": "1",
            "description": "Parcours de formation : modules, leçons, tentatives de quiz, progression ; personnes et annuaire pour les RH et les outils de pilotage. Authentification par le cookie de session ou par un jeton d'API (Authorization: Bearer). Les ressources d'une personne (me, tentatives) demandent une session. Aucune réponse ne révèle les bonnes réponses d'une tentative avant sa soumission."
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "session": [] }],
        "paths": {
            "/openapi.json": { "get": {
                "summary": "Ce document", "security": [],
                "responses": { "200": { "description": "Document OpenAPI 3" } }
            }},
            "/modules": { "get": {
                "summary": "Modules proposés à l'utilisateur, avec son statut sur chacun",
                "responses": with_errors(json!({ "200": ok("ModuleList", "Liste des modules") }), &[])
            }},
            "/modules/{slug}": { "get": {
                "summary": "Un module et ses leçons",
                "parameters": [slug],
                "responses": with_errors(json!({ "200": ok("ModuleDetail", "Le module") }), &[])
            }},
            "/modules/{slug}/lessons/{number}": { "get": {
                "summary": "Une leçon (la lecture est enregistrée)",
                "parameters": [slug, param("number", "Numéro de la leçon, à partir de 1", None)],
                "responses": with_errors(json!({ "200": ok("LessonResponse", "La leçon") }), &[])
            }},
            "/modules/{slug}/attempts": { "post": {
                "summary": "Commencer une tentative de quiz",
                "description": "Tire les questions dans les réserves du module et les mélange. Si une tentative est déjà ouverte sur ce module, la renvoie (200) au lieu d'en commencer une autre : un second appel ne consomme pas de tentative. Refusé (409) si les leçons ne sont pas toutes lues, si un prérequis manque ou si les tentatives sont épuisées.",
                "parameters": [slug],
                "responses": with_errors(json!({ "201": ok("Attempt", "Tentative créée, sans données de correction"), "200": ok("Attempt", "Tentative déjà ouverte, reprise") }), &[("409", "Tentative impossible, avec la raison")])
            }},
            "/attempts/{id}": { "get": {
                "summary": "Une tentative : ses questions si elle est ouverte, son résultat si elle est soumise",
                "parameters": [id],
                "responses": with_errors(json!({ "200": ok("AttemptState", "La tentative") }), &[])
            }},
            "/attempts/{id}/submission": { "post": {
                "summary": "Soumettre les réponses d'une tentative",
                "description": "Correction côté serveur. Une tentative déjà soumise renvoie le résultat enregistré, sans le modifier.",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Submission" } } } },
                "responses": with_errors(json!({ "200": ok("ResultResponse", "Résultat corrigé, avec explications") }), &[("400", "Corps illisible"), ("422", "Réponses invalides : question ou option inconnue, plusieurs options pour une question à réponse unique")])
            }},
            "/people": { "get": {
                "summary": "Personnes du périmètre : tout le monde pour un jeton d'API ou les RH, le sous-arbre de son service pour un encadrant, sa structure pour un référent partenaire",
                "security": [{ "session": [] }, { "token": [] }],
                "parameters": [
                    { "name": "q", "in": "query", "required": false, "description": "Partie du nom ou de l'adresse, ou matricule exact (100 caractères au plus)", "schema": { "type": "string", "maxLength": 100 } },
                    { "name": "org_unit", "in": "query", "required": false, "description": "Chemin d'un service : ce service et ceux qui en dépendent", "schema": { "type": "string" } },
                    { "name": "audience", "in": "query", "required": false, "schema": { "type": "string", "enum": ["accueil", "rh", "social", "partenaire", "encadrement", "tous"] } },
                    { "name": "partner", "in": "query", "required": false, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "active", "in": "query", "required": false, "schema": { "type": "string", "enum": ["active", "inactive", "all"], "default": "active" } },
                    { "name": "sort", "in": "query", "required": false, "schema": { "type": "string", "enum": ["name", "org_unit", "completed"], "default": "name" } },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } },
                    { "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0, "default": 0 } }
                ],
                "responses": with_errors(json!({ "200": { "description": "Une page de personnes (people), le nombre total (total), limit et offset" } }), &[("400", "Filtre invalide"), ("403", "Rôle sans périmètre (apprenant)")])
            }},
            "/people/{id}": { "get": {
                "summary": "Une personne du périmètre et sa progression (hors périmètre : 404)",
                "security": [{ "session": [] }, { "token": [] }],
                "parameters": [param("id", "Identifiant de la personne", Some("uuid"))],
                "responses": with_errors(json!({ "200": { "description": "La personne et sa progression" } }), &[])
            }},
            "/org-units": { "get": {
                "summary": "Arbre des services (chemins complets)",
                "security": [{ "session": [] }, { "token": [] }],
                "responses": with_errors(json!({ "200": { "description": "Services" } }), &[("403", "Réservé aux RH, aux administrateurs et aux jetons")])
            }},
            "/partners": { "get": {
                "summary": "Structures partenaires et leur thème",
                "security": [{ "session": [] }, { "token": [] }],
                "responses": with_errors(json!({ "200": { "description": "Structures partenaires" } }), &[("403", "Réservé aux RH, aux administrateurs et aux jetons")])
            }},
            "/directory/import": { "post": {
                "summary": "Import de l'annuaire RH (corps : le fichier CSV)",
                "description": "Colonnes : matricule, courriel, nom, prenom, service, publics, fonction, date_entree, sexe, categorie. Toute ligne invalide fait rejeter le fichier entier (422, avec « line N: message »). `dry_run=true` montre ce qui serait créé, modifié et désactivé. Un fichier qui désactiverait plus de `import_max_deactivation_percent` % des personnes actives de l'annuaire (10 % par défaut, et plus de 5 personnes) est refusé (422) sans `confirm_deactivations=true`. Les comptes des partenaires et des administrateurs ne sont jamais modifiés par le fichier. Jusqu'à 32 Mo.",
                "security": [{ "session": [] }, { "token": [] }],
                "parameters": [
                    { "name": "dry_run", "in": "query", "required": false, "schema": { "type": "boolean", "default": false } },
                    { "name": "confirm_deactivations", "in": "query", "required": false, "schema": { "type": "boolean", "default": false } }
                ],
                "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } },
                "responses": with_errors(json!({ "200": { "description": "Rapport d'import" } }), &[("403", "Jeton en lecture seule, ou rôle autre que RH / administrateur"), ("422", "Lignes invalides, rien n'est importé")])
            }},
            "/certificates/{number}": { "get": {
                "summary": "Vérification publique d'une attestation (sans compte)",
                "description": "État (valid, expired, revoked, superseded, invalid), module, dates et nom du titulaire ; rien d'autre sur la personne. Limité à 60 vérifications par minute et par poste.",
                "security": [],
                "parameters": [param("number", "Numéro d'attestation (RPR-XXXX-XXXX-XXXX-XXXX ; casse, espaces, I/L/O tolérés)", None)],
                "responses": {
                    "200": { "description": "Résultat de la vérification" },
                    "404": { "$ref": "#/components/responses/NotFound" },
                    "429": { "description": "Trop de vérifications", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
                }
            }},
            "/me/progress": { "get": {
                "summary": "Ma progression : statut par module, historique des validations et des tentatives",
                "responses": with_errors(json!({ "200": ok("Progress", "Progression") }), &[])
            }},
            "/me/obligations": { "get": {
                "summary": "Mes obligations de formation : le cycle en cours de chaque module assigné, les retards d'abord",
                "responses": with_errors(json!({ "200": ok("ObligationList", "Obligations") }), &[])
            }},
            "/obligations": { "get": {
                "summary": "Obligations du périmètre : tout le monde pour un jeton ou les RH, le sous-arbre de son service pour un encadrant, sa structure pour un référent partenaire",
                "security": [{ "session": [] }, { "token": [] }],
                "parameters": [
                    { "name": "state", "in": "query", "required": false, "schema": { "$ref": "#/components/schemas/ObligationState" } },
                    { "name": "module", "in": "query", "required": false, "schema": { "type": "string" } },
                    { "name": "org_unit", "in": "query", "required": false, "description": "Chemin d'un service : ce service et ceux qui en dépendent", "schema": { "type": "string" } },
                    { "name": "history", "in": "query", "required": false, "description": "Inclure les cycles passés", "schema": { "type": "boolean", "default": false } },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 } },
                    { "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0, "default": 0 } }
                ],
                "responses": with_errors(json!({ "200": { "description": "Une page d'obligations (obligations), le nombre total (total), limit et offset", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ObligationList" } } } } }), &[("400", "Filtre invalide"), ("403", "Rôle sans périmètre (apprenant, formateur)")])
            }},
            "/obligations/{id}/exemption": { "post": {
                "summary": "Dispenser une personne d'un cycle en cours (RH), avec un motif conservé et journalisé",
                "parameters": [param("id", "Identifiant de l'obligation", Some("uuid"))],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string", "minLength": 5, "maxLength": 500 } } } } } },
                "responses": with_errors(json!({ "200": { "description": "L'obligation dispensée" } }), &[("409", "Obligation déjà validée ou close"), ("422", "Motif absent ou trop long")])
            }},
            "/obligation-rules": {
                "get": {
                    "summary": "Règles d'obligation (RH, administrateurs, jetons)",
                    "security": [{ "session": [] }, { "token": [] }],
                    "responses": with_errors(json!({ "200": { "description": "Les règles, avec leur cible et leur délai en clair" } }), &[("403", "Réservé aux RH, aux administrateurs et aux jetons")])
                },
                "post": {
                    "summary": "Créer une règle (RH) : elle s'applique aussitôt",
                    "description": "La règle est vérifiée, son aperçu calculé ; si elle donne une obligation à plus de `rule_max_without_confirmation` personnes (200 par défaut), il faut `confirm: true`. Réponse : la règle, l'aperçu et ce que l'application a fait.",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RuleInput" } } } },
                    "responses": with_errors(json!({ "201": { "description": "Règle créée et appliquée" } }), &[("422", "Règle invalide (aucune cible, délai négatif, date inexistante, module ou service inconnu) ou confirmation manquante")])
                }
            },
            "/obligation-rules/dry-run": { "post": {
                "summary": "Aperçu d'une règle (RH) : qui recevrait une obligation, qui n'en aurait plus ; rien n'est écrit",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RuleInput" } } } },
                "responses": with_errors(json!({ "200": { "description": "Nombres et premières personnes de chaque liste" } }), &[("422", "Règle invalide")])
            }},
            "/obligation-rules/{id}": { "post": {
                "summary": "Modifier une règle (RH), par exemple la désactiver : les cycles en cours qu'aucune règle ne vise plus sont retirés",
                "parameters": [param("id", "Identifiant de la règle", Some("uuid"))],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RuleInput" } } } },
                "responses": with_errors(json!({ "200": { "description": "Règle modifiée et appliquée" } }), &[("422", "Règle invalide ou confirmation manquante")])
            }}
        },
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-reperes_session", "description": "Cookie de session chiffré (reperes_session si cookie_secure est désactivé en développement HTTP)" },
                "token": { "type": "http", "scheme": "bearer", "description": "Jeton d'API créé par un administrateur (rpr_…), en lecture seule ou en lecture et écriture" }
            },
            "responses": {
                "Unauthorized": { "description": "Non connecté", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                "NotFound": { "description": "Introuvable (y compris la tentative d'un autre utilisateur)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            },
            "schemas": {
                "ObligationState": { "type": "string", "enum": ["overdue", "assigned", "in_progress", "expiring", "expired", "completed", "exempt", "left", "withdrawn"] },
                "Obligation": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "person_id": { "type": "string", "format": "uuid" }, "person": { "type": "string" }, "email": { "type": "string" },
                    "org_unit": { "type": "string", "nullable": true }, "partner": { "type": "string", "nullable": true },
                    "module": { "type": "string" }, "module_title": { "type": "string" }, "cycle": { "type": "integer" },
                    "state": { "$ref": "#/components/schemas/ObligationState" }, "state_label": { "type": "string" }, "overdue": { "type": "boolean" }, "open": { "type": "boolean" },
                    "due_on": { "type": "string", "format": "date" }, "completed_at": { "type": "string", "format": "date-time", "nullable": true },
                    "valid_until": { "type": "string", "format": "date", "nullable": true }, "exemption_reason": { "type": "string", "nullable": true }
                }},
                "ObligationList": { "type": "object", "properties": { "obligations": { "type": "array", "items": { "$ref": "#/components/schemas/Obligation" } }, "total": { "type": "integer" } } },
                "RuleInput": { "type": "object", "required": ["name", "module", "due_days"], "properties": {
                    "name": { "type": "string", "maxLength": 200 }, "module": { "type": "string" },
                    "audience": { "type": "string", "enum": ["", "accueil", "rh", "social", "partenaire", "encadrement", "tous"] },
                    "org_unit": { "type": "string" }, "partner": { "type": "string", "description": "Identifiant d'une structure partenaire" },
                    "arrived_after": { "type": "string", "description": "AAAA-MM-JJ" }, "title_word": { "type": "string", "maxLength": 100 },
                    "due_days": { "type": "string", "description": "Nombre entier de jours, de 0 à 3650" },
                    "due_from": { "type": "string", "enum": ["assignment", "arrival"], "default": "assignment" },
                    "active": { "type": "boolean", "default": true }, "confirm": { "type": "boolean", "default": false }
                }},
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["status", "message"], "properties": { "status": { "type": "integer" }, "message": { "type": "string" } } } } },
                "Status": { "type": "string", "enum": ["not_started", "in_progress", "completed", "expired", "blocked"] },
                "ModuleState": { "type": "object", "properties": {
                    "slug": { "type": "string" }, "title": { "type": "string" }, "summary": { "type": "string" },
                    "estimated_minutes": { "type": "integer" }, "pass_mark": { "type": "integer" }, "validity_months": { "type": "integer" },
                    "attempts_allowed": { "type": "integer", "nullable": true }, "attempts_used": { "type": "integer" }, "attempts_left": { "type": "integer", "nullable": true },
                    "lessons_total": { "type": "integer" }, "lessons_viewed": { "type": "integer" }, "questions_per_attempt": { "type": "integer" },
                    "status": { "$ref": "#/components/schemas/Status" }, "status_label": { "type": "string" },
                    "completed_at": { "type": "string", "format": "date-time", "nullable": true }, "valid_until": { "type": "string", "format": "date-time", "nullable": true },
                    "version": { "type": "string" }, "audiences": { "type": "array", "items": { "type": "string" } },
                    "territorial_axes": { "type": "array", "items": { "type": "integer" } }, "equality_axes": { "type": "array", "items": { "type": "integer" } },
                    "prerequisites": { "type": "array", "items": { "type": "object", "properties": { "slug": { "type": "string" }, "title": { "type": "string" }, "met": { "type": "boolean" } } } },
                    "quiz_blocked_reason": { "type": "string", "nullable": true }
                }},
                "ModuleList": { "type": "object", "properties": { "modules": { "type": "array", "items": { "$ref": "#/components/schemas/ModuleState" } } } },
                "LessonEntry": { "type": "object", "properties": { "number": { "type": "integer" }, "title": { "type": "string" }, "viewed": { "type": "boolean" }, "current": { "type": "boolean" } } },
                "ModuleDetail": { "type": "object", "properties": { "module": { "$ref": "#/components/schemas/ModuleState" }, "lessons": { "type": "array", "items": { "$ref": "#/components/schemas/LessonEntry" } } } },
                "LessonResponse": { "type": "object", "properties": { "lesson": { "type": "object", "properties": {
                    "module_slug": { "type": "string" }, "number": { "type": "integer" }, "total": { "type": "integer" }, "title": { "type": "string" }, "html": { "type": "string" }, "minutes": { "type": "integer" }, "viewed": { "type": "integer" }
                } } } },
                "Attempt": { "type": "object", "properties": {
                    "attempt_id": { "type": "string", "format": "uuid" }, "module_slug": { "type": "string" }, "module_title": { "type": "string" },
                    "pass_mark": { "type": "integer" }, "started_at": { "type": "string", "format": "date-time" }, "submitted": { "type": "boolean" },
                    "questions": { "type": "array", "items": { "type": "object", "properties": {
                        "number": { "type": "integer" }, "id": { "type": "string" }, "kind": { "type": "string", "enum": ["single", "multiple", "true_false", "scenario"] },
                        "multiple": { "type": "boolean" }, "prompt": { "type": "string" }, "situation": { "type": "string", "nullable": true },
                        "options": { "type": "array", "items": { "type": "object", "properties": { "id": { "type": "string" }, "text": { "type": "string" } } } }
                    } } }
                }},
                "Submission": { "type": "object", "required": ["answers"], "additionalProperties": false, "properties": {
                    "answers": { "type": "object", "description": "Identifiant de question → identifiants des options choisies", "additionalProperties": { "type": "array", "items": { "type": "string" } } }
                }},
                "Result": { "type": "object", "properties": {
                    "attempt_id": { "type": "string", "format": "uuid" }, "module_slug": { "type": "string" }, "module_title": { "type": "string" },
                    "score": { "type": "integer" }, "pass_mark": { "type": "integer" }, "passed": { "type": "boolean" }, "submitted_at": { "type": "string", "format": "date-time" },
                    "correct_count": { "type": "integer" }, "total": { "type": "integer" },
                    "questions": { "type": "array", "items": { "type": "object", "properties": {
                        "id": { "type": "string" }, "prompt": { "type": "string" }, "answered": { "type": "boolean" }, "correct": { "type": "boolean" }, "credit": { "type": "integer", "description": "Demi-points obtenus : 2 = juste, 1 = réponse ambiguë à un cas pratique" },
                        "options": { "type": "array", "items": { "type": "object", "properties": {
                            "id": { "type": "string" }, "text": { "type": "string" }, "chosen": { "type": "boolean" }, "correct": { "type": "boolean" },
                            "grade": { "type": "string", "nullable": true, "enum": ["appropriate", "ambiguous", "discriminatory", null] }, "explanation": { "type": "string" }
                        } } }
                    } } }
                }},
                "ResultResponse": { "type": "object", "properties": { "result": { "$ref": "#/components/schemas/Result" } } },
                "AttemptState": { "type": "object", "properties": { "status": { "type": "string", "enum": ["open", "submitted"] }, "attempt": { "$ref": "#/components/schemas/Attempt" }, "result": { "$ref": "#/components/schemas/Result" } } },
                "Progress": { "type": "object", "properties": {
                    "modules": { "type": "array", "items": { "$ref": "#/components/schemas/ModuleState" } },
                    "completed_count": { "type": "integer" },
                    "completions": { "type": "array", "items": { "type": "object", "properties": {
                        "module_slug": { "type": "string" }, "module_title": { "type": "string" }, "module_version": { "type": "string" }, "score": { "type": "integer" },
                        "completed_at": { "type": "string", "format": "date-time" }, "valid_until": { "type": "string", "format": "date-time", "nullable": true }, "attempt_id": { "type": "string", "format": "uuid" }
                    } } },
                    "attempts": { "type": "array", "items": { "type": "object", "properties": {
                        "attempt_id": { "type": "string", "format": "uuid" }, "module_slug": { "type": "string" }, "module_title": { "type": "string" },
                        "started_at": { "type": "string", "format": "date-time" }, "submitted_at": { "type": "string", "format": "date-time", "nullable": true },
                        "score": { "type": "integer", "nullable": true }, "passed": { "type": "boolean", "nullable": true }
                    } } }
                }}
            }
        }
    })
}

/// Shared trainings: offers, sessions, enrolments and attendance.
fn training_paths() -> Value {
    let id = |what: &str| param("id", what, Some("uuid"));
    let body = |schema: &str| json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
    json!({
        "/training-offers": {
            "get": {
                "summary": "Offres de formation partagée",
                "responses": with_errors(json!({ "200": { "description": "Les offres : titre, description, publics, axes, module préalable, accord requis" } }), &[])
            },
            "post": {
                "summary": "Créer une offre (formateurs, RH, administrateurs)",
                "requestBody": body("OfferInput"),
                "responses": with_errors(json!({ "201": { "description": "Offre créée" } }), &[("422", "Offre invalide (titre vide, public ou module inconnu)")])
            }
        },
        "/sessions": {
            "get": {
                "summary": "Sessions à venir, avec les places libres pour l'appelant",
                "parameters": [
                    { "name": "offer", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "month", "in": "query", "schema": { "type": "string", "example": "2027-03" } },
                    { "name": "place", "in": "query", "schema": { "type": "string" } },
                    { "name": "mode", "in": "query", "schema": { "type": "string", "enum": ["in_person", "online"] } },
                    { "name": "seats_left", "in": "query", "schema": { "type": "boolean" } }
                ],
                "responses": with_errors(json!({ "200": { "description": "Les sessions ; le lien de connexion n'apparaît que pour qui a une place ou anime" } }), &[])
            },
            "post": {
                "summary": "Créer une session (formateurs, RH, administrateurs) : créneaux en heure de Paris, capacité, quotas partenaires, dates limites",
                "requestBody": body("SessionInput"),
                "responses": with_errors(json!({ "201": { "description": "Session créée" } }), &[("422", "Session invalide (créneau qui finit avant de commencer, heure inexistante, quota supérieur à la capacité…)")])
            }
        },
        "/sessions/{id}": {
            "get": {
                "summary": "Une session : créneaux, lieu et accès, places, inscription de l'appelant",
                "parameters": [id("Identifiant de la session")],
                "responses": with_errors(json!({ "200": { "description": "La session" } }), &[])
            },
            "patch": {
                "summary": "Modifier une session (ses formateurs, RH) : les champs envoyés remplacent les actuels ; un changement d'horaire ou de lieu prévient les inscrits",
                "parameters": [id("Identifiant de la session")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "description": "Champs de SessionInput à changer" } } } },
                "responses": with_errors(json!({ "200": { "description": "Session modifiée ; nombre de personnes prévenues et promues" } }), &[("422", "Capacité inférieure aux places prises, quota supérieur à la capacité, champ inconnu…"), ("409", "Session annulée")])
            }
        },
        "/sessions/{id}/cancellation": { "post": {
            "summary": "Annuler une session avec son motif (ses formateurs, RH) : les inscrits sont prévenus, avec une annulation d'agenda",
            "parameters": [id("Identifiant de la session")],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["reason"], "properties": { "reason": { "type": "string", "minLength": 5, "maxLength": 500 } } } } } },
            "responses": with_errors(json!({ "200": { "description": "Session annulée" } }), &[("422", "Motif manquant"), ("409", "Déjà annulée")])
        }},
        "/sessions/{id}/enrolments": { "post": {
            "summary": "S'inscrire, ou inscrire une personne suivie (référent partenaire, responsable, RH). Inscrire deux fois rend l'inscription existante.",
            "parameters": [id("Identifiant de la session")],
            "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object", "properties": { "person": { "type": "string", "format": "uuid", "description": "Absent : soi-même" } } } } } },
            "responses": with_errors(json!({
                "201": { "description": "Inscription créée : {\"enrolment\": {\"id\", \"status\": \"booked\"|\"waiting\"|\"pending\", \"position\"}, \"warning\"}" },
                "200": { "description": "Inscription déjà existante, rendue telle quelle" }
            }), &[("409", "Inscriptions closes, session annulée ou module préalable non validé")])
        }},
        "/enrolments/{id}": { "delete": {
            "summary": "Annuler une inscription : la personne jusqu'à la date limite d'annulation, ses formateurs et les RH ensuite. Une place libérée passe à la liste d'attente.",
            "parameters": [id("Identifiant de l'inscription")],
            "responses": with_errors(json!({ "200": { "description": "Inscription annulée" } }), &[("409", "Délai d'annulation passé, ou inscription déjà annulée")])
        }},
        "/enrolments/{id}/confirmation": { "post": {
            "summary": "Confirmer une place proposée depuis la liste d'attente (la personne, pendant le délai de réservation)",
            "parameters": [id("Identifiant de l'inscription")],
            "responses": with_errors(json!({ "200": { "description": "Place confirmée" } }), &[("409", "Délai de confirmation passé")])
        }},
        "/enrolments/{id}/decision": { "post": {
            "summary": "Accepter ou refuser une demande soumise à accord (responsable, référent partenaire, RH)",
            "parameters": [id("Identifiant de l'inscription")],
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["approve"], "properties": { "approve": { "type": "boolean" } } } } } },
            "responses": with_errors(json!({ "200": { "description": "Décision enregistrée : place, liste d'attente ou refus" } }), &[("409", "La demande n'attend plus d'accord")])
        }},
        "/me/enrolments": { "get": {
            "summary": "Mes inscriptions aux formations partagées, avec leurs sessions",
            "responses": with_errors(json!({ "200": { "description": "Inscriptions, positions en liste d'attente, présence" } }), &[])
        }},
        "/sessions/{id}/attendance": {
            "get": {
                "summary": "Émargement d'une session (ses formateurs, RH) : inscrits et présences par créneau",
                "parameters": [id("Identifiant de la session")],
                "responses": with_errors(json!({ "200": { "description": "Créneaux et liste d'émargement" } }), &[])
            },
            "put": {
                "summary": "Enregistrer les présences d'un créneau (ses formateurs, RH) ; présent à tous les créneaux = session suivie",
                "parameters": [id("Identifiant de la session")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["slot", "marks"], "properties": {
                    "slot": { "type": "string", "format": "uuid" },
                    "marks": { "type": "array", "items": { "type": "object", "required": ["enrolment", "status"], "properties": {
                        "enrolment": { "type": "string", "format": "uuid" }, "status": { "type": "string", "enum": ["present", "absent", "excused"] } } } }
                } } } } },
                "responses": with_errors(json!({ "200": { "description": "Présences enregistrées" } }), &[("422", "Présence inconnue ou personne sans place")])
            }
        }
    })
}

fn training_schemas() -> Value {
    json!({
        "OfferInput": { "type": "object", "required": ["title"], "properties": {
            "title": { "type": "string", "maxLength": 200 }, "description": { "type": "string", "maxLength": 5000 },
            "audiences": { "type": "string", "description": "Codes de publics séparés par des espaces : accueil rh social partenaire encadrement tous" },
            "axes": { "type": "string", "description": "Codes des axes servis, séparés par des espaces : T1 à T5 (plan territorial), E1 à E5 (plan d'égalité professionnelle)", "example": "T2 E5" }, "prerequisite_module": { "type": "string" }, "completes_module": { "type": "string" },
            "requires_approval": { "type": "boolean" }
        }},
        "SessionInput": { "type": "object", "required": ["offer", "mode", "capacity", "slots"], "properties": {
            "offer": { "type": "string", "format": "uuid" },
            "mode": { "type": "string", "enum": ["in_person", "online"] },
            "address": { "type": "string" }, "room": { "type": "string" }, "access_info": { "type": "string" },
            "online_link": { "type": "string", "description": "https://… ; montré seulement aux personnes qui ont une place" },
            "capacity": { "type": "integer", "minimum": 1, "maximum": 10000 },
            "slots": { "type": "array", "minItems": 1, "maxItems": 20, "items": { "type": "object", "required": ["date", "start", "end"], "properties": {
                "date": { "type": "string", "format": "date" }, "start": { "type": "string", "example": "09:00" }, "end": { "type": "string", "example": "12:30" } } }, "description": "Heures de Paris" },
            "enrol_until": { "type": "string", "format": "date" }, "cancel_until": { "type": "string", "format": "date" },
            "quota_release": { "type": "string", "format": "date" },
            "quotas": { "type": "array", "items": { "type": "object", "properties": { "partner": { "type": "string" }, "seats": { "type": "integer", "minimum": 1 } } } },
            "trainers": { "type": "array", "items": { "type": "string", "format": "email" } }
        }}
    })
}

/// The equality plan: reads for HR and tokens, writes for HR with a session.
fn equality_paths() -> Value {
    let id = |what: &str| param("id", what, Some("uuid"));
    let body = |schema: &str| json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
    let read = json!([{ "session": [] }, { "token": [] }]);
    let hr_only = (
        "403",
        "Réservé aux RH et aux administrateurs (et aux jetons en lecture)",
    );
    let query = |name: &str, description: &str, format: Option<&str>| {
        let mut schema = json!({ "type": "string" });
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        json!({ "name": name, "in": "query", "description": description, "schema": schema })
    };
    json!({
        "/equality/dashboard": {
            "get": {
                "summary": "Le tableau de bord : par axe, actions réalisées et indicateurs à la cible ; par indicateur, valeur au dernier instantané de la période et évolution, sous les filtres (cases de moins de 5 personnes masquées)",
                "security": read,
                "parameters": [query("from", "Début de la période", Some("date")), query("to", "Fin de la période", Some("date")), query("unit", "Chemin d'un service : son sous-arbre", None), query("audience", "Code d'un public", None)],
                "responses": with_errors(json!({ "200": { "description": "Le tableau de bord" } }), &[hr_only, ("400", "Filtre invalide")])
            }
        },
        "/equality/plan": {
            "get": {
                "summary": "Le plan d'égalité professionnelle : période, cinq axes, actions",
                "security": read,
                "responses": with_errors(json!({ "200": { "description": "Période et axes avec leurs actions (statut, avancement, retard)" } }), &[hr_only])
            },
            "put": {
                "summary": "Enregistrer la période du plan (trois ans au plus)",
                "requestBody": body("EqualityPeriod"),
                "responses": with_errors(json!({ "200": { "description": "Période enregistrée" } }), &[("422", "Période invalide : fin avant le début, plus de trois ans")])
            }
        },
        "/equality/actions": {
            "post": {
                "summary": "Créer une action du plan",
                "requestBody": body("EqualityAction"),
                "responses": with_errors(json!({ "201": { "description": "Action créée" } }), &[("422", "Action invalide : axe ou responsable inconnu, fin avant le début, avancement hors 0–100")])
            }
        },
        "/equality/actions/{id}": {
            "patch": {
                "summary": "Modifier une action (seuls les champs donnés changent)",
                "parameters": [id("Action")],
                "requestBody": body("EqualityAction"),
                "responses": with_errors(json!({ "200": { "description": "Action modifiée" } }), &[("422", "Action invalide")])
            }
        },
        "/equality/actions/{id}/comments": {
            "post": {
                "summary": "Ajouter un commentaire daté et signé à l'historique d'une action",
                "parameters": [id("Action")],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["body"], "properties": { "body": { "type": "string", "minLength": 2, "maxLength": 2000 } } } } } },
                "responses": with_errors(json!({ "201": { "description": "L'historique des commentaires" } }), &[("422", "Commentaire vide ou trop long")])
            }
        },
        "/equality/indicators": {
            "get": {
                "summary": "Les indicateurs : définition (population et mesure) ou bornes de saisie, cible, échéance",
                "security": read,
                "responses": with_errors(json!({ "200": { "description": "Les indicateurs" } }), &[hr_only])
            },
            "post": {
                "summary": "Créer un indicateur calculé (population et mesure) ou saisi (unité et bornes)",
                "requestBody": body("EqualityIndicator"),
                "responses": with_errors(json!({ "201": { "description": "Indicateur créé" } }), &[("409", "Code déjà pris"), ("422", "Indicateur invalide : mesure, module, public ou axe inconnu, cible hors bornes")])
            }
        },
        "/equality/indicators/{id}": {
            "get": {
                "summary": "Un indicateur calculé à l'instant, ses répartitions (sexe, catégorie, public, service, structure) et son évolution ; toute case de moins de 5 personnes est masquée, avec une seconde case si besoin",
                "security": read,
                "parameters": [id("Indicateur"), query("unit", "Chemin d'un service : son sous-arbre", None), query("audience", "Code d'un public", None), query("from", "Début de l'évolution", Some("date")), query("to", "Fin de l'évolution", Some("date"))],
                "responses": with_errors(json!({ "200": { "description": "Valeur, répartitions, évolution, valeurs saisies" } }), &[hr_only, ("400", "Filtre invalide")])
            },
            "patch": {
                "summary": "Modifier un indicateur : intitulé, axe, cible, sens, échéance (seuls les champs donnés changent)",
                "parameters": [id("Indicateur")],
                "requestBody": body("EqualityIndicator"),
                "responses": with_errors(json!({ "200": { "description": "Indicateur modifié" } }), &[("409", "Code déjà pris"), ("422", "Indicateur invalide")])
            }
        },
        "/equality/indicators/{id}/values": {
            "post": {
                "summary": "Saisir la valeur d'un indicateur saisi pour une période, avec sa source",
                "parameters": [id("Indicateur")],
                "requestBody": body("EqualityValue"),
                "responses": with_errors(json!({ "201": { "description": "Les valeurs de l'indicateur" } }), &[("422", "Valeur hors bornes, période invalide, source absente, ou indicateur calculé")])
            }
        },
        "/equality/snapshots": {
            "get": {
                "summary": "Les instantanés (mensuels et à la demande)",
                "security": read,
                "responses": with_errors(json!({ "200": { "description": "Les instantanés, du plus récent au plus ancien" } }), &[hr_only])
            },
            "post": {
                "summary": "Prendre un instantané maintenant",
                "responses": with_errors(json!({ "201": { "description": "L'identifiant de l'instantané" } }), &[])
            }
        },
        "/equality/snapshots/{id}": {
            "get": {
                "summary": "Le rapport de suivi d'un instantané : par axe, actions et indicateurs face à leur cible, avec leur évolution (les mêmes chiffres que les fichiers PDF, ODS et CSV)",
                "security": read,
                "parameters": [id("Instantané")],
                "responses": with_errors(json!({ "200": { "description": "Le rapport" } }), &[hr_only])
            }
        },
        "/equality/territorial": {
            "get": {
                "summary": "Plan territorial : personnes formées par axe et par structure sur une période (modules et sessions partagées)",
                "security": read,
                "parameters": [query("from", "Début (par défaut le 1er janvier)", Some("date")), query("to", "Fin (par défaut aujourd'hui)", Some("date"))],
                "responses": with_errors(json!({ "200": { "description": "Par axe T1 à T5, les effectifs par structure" } }), &[hr_only, ("400", "Période invalide")])
            }
        }
    })
}

fn equality_schemas() -> Value {
    json!({
        "EqualityPeriod": { "type": "object", "required": ["starts_on", "ends_on"], "properties": {
            "starts_on": { "type": "string", "format": "date" }, "ends_on": { "type": "string", "format": "date" } } },
        "EqualityAction": { "type": "object", "required": ["axis", "title", "owner", "starts_on", "ends_on"], "properties": {
            "axis": { "type": "string", "enum": ["E1", "E2", "E3", "E4", "E5"] },
            "title": { "type": "string", "minLength": 3, "maxLength": 200 }, "description": { "type": "string", "maxLength": 4000 },
            "owner": { "type": "string", "format": "uuid", "description": "La personne responsable" },
            "starts_on": { "type": "string", "format": "date" }, "ends_on": { "type": "string", "format": "date" },
            "status": { "type": "string", "enum": ["not_started", "in_progress", "done", "abandoned"] },
            "progress": { "type": "string", "description": "Pourcentage, 0 à 100" },
            "modules": { "type": "array", "items": { "type": "string" } },
            "offers": { "type": "array", "items": { "type": "string", "format": "uuid" } } } },
        "EqualityIndicator": { "type": "object", "required": ["code", "axis", "title", "kind"], "properties": {
            "code": { "type": "string", "maxLength": 30 }, "axis": { "type": "string", "enum": ["E1", "E2", "E3", "E4", "E5"] },
            "title": { "type": "string", "minLength": 3, "maxLength": 200 },
            "kind": { "type": "string", "enum": ["auto", "manual"] },
            "measure": { "type": "string", "enum": ["valid_certificate", "completed", "on_time", "overdue", "average_score", "shared_trained", "attendance_rate"] },
            "module": { "type": "string" }, "offer": { "type": "string", "format": "uuid" },
            "audiences": { "type": "array", "items": { "type": "string" } }, "managers_only": { "type": "boolean" },
            "staff": { "type": "string", "enum": ["all", "city", "partners"] },
            "categories": { "type": "array", "items": { "type": "string", "enum": ["A", "B", "C", "CONTRACTUEL"] } },
            "unit": { "type": "string", "enum": ["number", "percent", "count"], "description": "Indicateur saisi" },
            "min": { "type": "string" }, "max": { "type": "string" },
            "target": { "type": "string" }, "direction": { "type": "string", "enum": ["at_least", "at_most"] },
            "deadline": { "type": "string", "format": "date" } } },
        "EqualityValue": { "type": "object", "required": ["period", "value", "source"], "properties": {
            "period": { "type": "string", "example": "2025", "description": "Une année (2025) ou un mois (2026-03)" },
            "value": { "type": "string", "example": "4,2" }, "source": { "type": "string", "maxLength": 300 } } }
    })
}
