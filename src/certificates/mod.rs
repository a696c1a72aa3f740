//! Certificates: issued with the completion, frozen and signed (Ed25519), rendered to PDF
//! on request, verifiable by anyone from their number.

pub mod export;
pub mod flow;
pub mod pdf;
pub mod routes;
pub mod store;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet (no I, L, O, U).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Prefix of every number.
pub const PREFIX: &str = "RPR";

/// A new certificate number: 80 random bits as 16 Crockford base32 characters in groups of
/// four, `RPR-7KD2-M9QX-4T1B-…`.
pub fn new_number() -> String {
    let bytes: [u8; 10] = rand::random();
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | u128::from(b);
    }
    let chars: Vec<u8> = (0..16)
        .rev()
        .map(|i| CROCKFORD[((bits >> (i * 5)) & 31) as usize])
        .collect();
    let groups: Vec<&str> = chars
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!("{PREFIX}-{}", groups.join("-"))
}

/// Reads a number as typed or read aloud: any case, spaces or hyphens, I/L for 1, O for 0.
/// `None` when it cannot be a certificate number.
pub fn normalize_number(input: &str) -> Option<String> {
    let mut chars: Vec<char> = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() == 19 && chars[..3].iter().collect::<String>() == PREFIX {
        chars.drain(..3);
    }
    if chars.len() != 16 {
        return None;
    }
    let mut out = String::with_capacity(16);
    for c in chars {
        let c = match c {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !CROCKFORD.contains(&(c as u8)) || !c.is_ascii() {
            return None;
        }
        out.push(c);
    }
    let groups: Vec<&str> = (0..4).map(|i| &out[i * 4..i * 4 + 4]).collect();
    Some(format!("{PREFIX}-{}", groups.join("-")))
}

/// The data frozen at issue and signed. Field order is the canonical JSON order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub v: u8,
    pub number: String,
    pub holder: String,
    pub module_slug: String,
    pub module_title: String,
    pub module_version: String,
    pub score: u32,
    pub completed_at: DateTime<Utc>,
    pub valid_until: NaiveDate,
    pub issuer_city: String,
    pub issuer_service: String,
}

impl Payload {
    /// The canonical bytes that are signed.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An attestation de présence: a shared training session attended at every slot. Its own
/// type (`kind = "presence"`), signed with the certificates' key, in their number space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendancePayload {
    pub v: u8,
    pub kind: String,
    pub number: String,
    pub holder: String,
    pub training_title: String,
    /// Each slot, in French and Paris time.
    pub slots: Vec<String>,
    pub place: String,
    pub attended_at: DateTime<Utc>,
    pub issuer_city: String,
    pub issuer_service: String,
}

/// A signed attendance attestation, ready to store.
#[derive(Debug, Clone)]
pub struct SignedAttendance {
    pub payload: AttendancePayload,
    pub payload_json: String,
    pub signature: String,
    pub key_id: String,
}

/// The service's signing key.
#[derive(Clone)]
pub struct Signer25519 {
    key: SigningKey,
}

impl Signer25519 {
    /// From a base64 32-byte seed (setting `certificate_key`).
    pub fn from_base64(seed: &str) -> Result<Signer25519, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(seed.trim())
            .map_err(|e| format!("certificate_key is not base64: {e}"))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| {
            "certificate_key must be 32 bytes (base64 of a 32-byte seed)".to_string()
        })?;
        Ok(Signer25519 {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn generate() -> (Signer25519, String) {
        let seed: [u8; 32] = rand::random();
        (
            Signer25519 {
                key: SigningKey::from_bytes(&seed),
            },
            base64::engine::general_purpose::STANDARD.encode(seed),
        )
    }

    /// Short id of the public key, stored with each signature.
    pub fn key_id(&self) -> String {
        key_id(&self.key.verifying_key())
    }

    pub fn sign(&self, payload: &str) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(self.key.sign(payload.as_bytes()).to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

/// A retired key's public half, as written in `certificate_previous_keys` (base64 of the
/// 32 bytes of an Ed25519 public key, as `reperes certificates public-key` prints it).
pub fn public_key_from_base64(text: &str) -> Result<VerifyingKey, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("certificate_previous_keys: not base64: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "certificate_previous_keys: a public key is 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("certificate_previous_keys: {e}"))
}

/// The base64 of a public key, for `certificate_previous_keys`.
pub fn public_key_base64(key: &VerifyingKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Whether `signature` (base64) is a valid signature of `payload` by `key`.
pub fn signature_valid(key: &VerifyingKey, payload: &str, signature: &str) -> bool {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    key.verify(payload.as_bytes(), &Signature::from_bytes(&bytes))
        .is_ok()
}

/// What a verification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Expired,
    Revoked,
    Superseded,
    /// The stored data do not match their signature.
    Invalid,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Valid => "Valide",
            Verdict::Expired => "Expirée",
            Verdict::Revoked => "Révoquée",
            Verdict::Superseded => "Remplacée par une attestation plus récente",
            Verdict::Invalid => "Non authentique : les données ne correspondent pas à la signature",
        }
    }
}

/// The verdict for a certificate: the signature first, then revocation, succession, expiry.
pub fn verdict(
    signature_ok: bool,
    revoked: bool,
    superseded: bool,
    valid_until: NaiveDate,
    today: NaiveDate,
) -> Verdict {
    if !signature_ok {
        Verdict::Invalid
    } else if revoked {
        Verdict::Revoked
    } else if superseded {
        Verdict::Superseded
    } else if today > valid_until {
        Verdict::Expired
    } else {
        Verdict::Valid
    }
}

/// Today in Paris.
pub fn paris_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&chrono_tz::Europe::Paris).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_80_random_bits_and_read_back() {
        let a = new_number();
        assert_eq!(a.len(), 3 + 4 * 5);
        assert!(a.starts_with("RPR-"));
        assert_ne!(a, new_number());
        assert_eq!(normalize_number(&a).as_deref(), Some(a.as_str()));
        let typed = a
            .to_lowercase()
            .replace('-', " ")
            .replace('1', "l")
            .replace('0', "o");
        assert_eq!(normalize_number(&typed).as_deref(), Some(a.as_str()));
        assert_eq!(
            normalize_number("7KD2M9QX4T1BZZZZ").as_deref(),
            Some("RPR-7KD2-M9QX-4T1B-ZZZZ")
        );
        assert_eq!(normalize_number("RPR-7KD2"), None);
        assert_eq!(
            normalize_number("RPR-7KD2-M9QX-4T1B-ZZZU"),
            None,
            "U is not Crockford"
        );
        assert_eq!(normalize_number("é"), None);
    }

    #[test]
    fn signatures_detect_tampering() {
        let (signer, seed) = Signer25519::generate();
        let again = Signer25519::from_base64(&seed).unwrap();
        assert_eq!(signer.key_id(), again.key_id());
        let payload = r#"{"holder":"Aïcha"}"#;
        let sig = signer.sign(payload);
        assert!(signature_valid(&signer.verifying_key(), payload, &sig));
        assert!(!signature_valid(
            &signer.verifying_key(),
            r#"{"holder":"Aicha"}"#,
            &sig
        ));
        assert!(!signature_valid(
            &signer.verifying_key(),
            payload,
            "bm9uc2Vuc2U="
        ));
        assert!(Signer25519::from_base64("dG9vIHNob3J0").is_err());
    }

    #[test]
    fn verdicts_follow_their_order() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let before = d.pred_opt().unwrap();
        assert_eq!(verdict(true, false, false, d, d), Verdict::Valid);
        assert_eq!(verdict(true, false, false, before, d), Verdict::Expired);
        assert_eq!(verdict(true, false, true, d, d), Verdict::Superseded);
        assert_eq!(verdict(true, true, true, d, d), Verdict::Revoked);
        assert_eq!(verdict(false, true, true, d, d), Verdict::Invalid);
    }
}

/// What issuing needs: the key and the issuer's names (from the settings).
#[derive(Clone)]
pub struct Certifier {
    pub signer: Signer25519,
    /// Retired keys that still verify what they signed (key rotation).
    pub previous_keys: Vec<VerifyingKey>,
    pub issuer_city: String,
    pub issuer_service: String,
    /// Base of the verification address in the QR code.
    pub public_url: String,
}

impl Certifier {
    /// The verification address of a number.
    pub fn verify_url(&self, number: &str) -> String {
        format!("{}/verify/{number}", self.public_url.trim_end_matches('/'))
    }

    /// Freezes and signs the data of a new certificate. The caller (learning) says until
    /// when the completion is valid; the certificate states that day, in Paris time.
    #[allow(clippy::too_many_arguments)]
    pub fn draft(
        &self,
        holder: &str,
        module_slug: &str,
        module_title: &str,
        module_version: &str,
        score: u32,
        completed_at: DateTime<Utc>,
        valid_until: DateTime<Utc>,
    ) -> store::Draft {
        let valid_until = paris_today(valid_until);
        let payload = Payload {
            v: 1,
            number: new_number(),
            holder: holder.to_string(),
            module_slug: module_slug.to_string(),
            module_title: module_title.to_string(),
            module_version: module_version.to_string(),
            score,
            completed_at,
            valid_until,
            issuer_city: self.issuer_city.clone(),
            issuer_service: self.issuer_service.clone(),
        };
        let payload_json = payload.canonical();
        store::Draft {
            id: uuid::Uuid::new_v4(),
            signature: self.signer.sign(&payload_json),
            key_id: self.signer.key_id(),
            payload,
            payload_json,
        }
    }

    /// Freezes and signs an attestation de présence.
    pub fn attendance(
        &self,
        holder: &str,
        training_title: &str,
        slots: Vec<String>,
        place: &str,
        attended_at: DateTime<Utc>,
    ) -> SignedAttendance {
        let payload = AttendancePayload {
            v: 1,
            kind: "presence".into(),
            number: new_number(),
            holder: holder.into(),
            training_title: training_title.into(),
            slots,
            place: place.into(),
            attended_at,
            issuer_city: self.issuer_city.clone(),
            issuer_service: self.issuer_service.clone(),
        };
        let payload_json = serde_json::to_string(&payload).unwrap_or_default();
        SignedAttendance {
            signature: self.signer.sign(&payload_json),
            key_id: self.signer.key_id(),
            payload,
            payload_json,
        }
    }

    /// The verdict on a stored attendance attestation: authentic (valid) or not; it does
    /// not expire.
    pub fn check_attendance(
        &self,
        number: &str,
        payload_json: &str,
        signature: &str,
        key_id: &str,
    ) -> (Verdict, Option<AttendancePayload>) {
        let payload: Option<AttendancePayload> = serde_json::from_str(payload_json).ok();
        let ok = payload
            .as_ref()
            .is_some_and(|p| p.number == number && p.kind == "presence")
            && self
                .key_for(key_id)
                .is_some_and(|k| signature_valid(&k, payload_json, signature));
        if ok {
            (Verdict::Valid, payload)
        } else {
            (Verdict::Invalid, None)
        }
    }

    /// The key that signed a certificate, by its id: the current one or a retired one.
    pub fn key_for(&self, key_id: &str) -> Option<VerifyingKey> {
        std::iter::once(self.signer.verifying_key())
            .chain(self.previous_keys.iter().copied())
            .find(|k| self::key_id(k) == key_id)
    }

    /// The verdict on a stored certificate, checking its signature now with the key that
    /// signed it, so that rotating the key leaves earlier certificates valid.
    pub fn check(
        &self,
        row: &store::CertificateRow,
        now: DateTime<Utc>,
    ) -> (Verdict, Option<Payload>) {
        let payload = row.payload();
        let signature_ok = payload.as_ref().is_some_and(|p| p.number == row.number)
            && self
                .key_for(&row.key_id)
                .is_some_and(|k| signature_valid(&k, &row.payload, &row.signature));
        let valid_until = payload
            .as_ref()
            .map(|p| p.valid_until)
            .unwrap_or(NaiveDate::MIN);
        let v = verdict(
            signature_ok,
            row.revoked_at.is_some(),
            row.superseded_at.is_some(),
            valid_until,
            paris_today(now),
        );
        (v, payload)
    }
}
