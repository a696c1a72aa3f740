//! The development mailbox: reads the `.eml` files of the folder transport, so that after
//! `cargo run` every mail the service sends can be read in the browser.

use std::path::{Path, PathBuf};

use mail_parser::{Message, MessageParser, MimeHeaders};
use serde::Serialize;

/// Messages listed at most.
pub const LIST_LIMIT: usize = 200;

/// A message in the list.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub key: String,
    pub subject: String,
    pub to: String,
    pub date: String,
    pub attachments: usize,
}

/// A piece of a text body: plain text, or a link made clickable.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub text: String,
    pub link: bool,
}

/// A joined file.
#[derive(Debug, Serialize)]
pub struct AttachmentInfo {
    pub index: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A whole message, ready for its page.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub key: String,
    pub subject: String,
    pub from: String,
    pub to: String,
    pub date: String,
    pub message_id: String,
    pub text: Vec<Segment>,
    pub has_html: bool,
    pub attachments: Vec<AttachmentInfo>,
}

/// A key names a file of the folder: the stem written by the transport
/// (`20261202T101500123456-<uuid>`), nothing that could climb out of it.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 80 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn path_of(dir: &Path, key: &str) -> Option<PathBuf> {
    valid_key(key).then(|| dir.join(format!("{key}.eml")))
}

fn address(m: &Message<'_>, to: bool) -> String {
    let field = if to { m.to() } else { m.from() };
    field
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (None, Some(e)) => e.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .unwrap_or_default()
}

fn date(m: &Message<'_>) -> String {
    m.date().map(|d| d.to_rfc3339()).unwrap_or_default()
}

/// The newest messages first (file names start with the time of writing).
pub fn list(dir: &Path) -> std::io::Result<Vec<Summary>> {
    let mut keys: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let key = name.strip_suffix(".eml")?.to_string();
                valid_key(&key).then_some(key)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.truncate(LIST_LIMIT);
    let parser = MessageParser::default();
    Ok(keys
        .into_iter()
        .filter_map(|key| {
            let raw = std::fs::read(dir.join(format!("{key}.eml"))).ok()?;
            let m = parser.parse(&raw)?;
            Some(Summary {
                subject: m.subject().unwrap_or("(sans objet)").to_string(),
                to: address(&m, true),
                date: date(&m),
                attachments: m.attachment_count(),
                key,
            })
        })
        .collect())
}

/// One message, or `None` when there is no such file.
pub fn read(dir: &Path, key: &str) -> Option<Shown> {
    let raw = std::fs::read(path_of(dir, key)?).ok()?;
    let m = MessageParser::default().parse(&raw)?;
    let text: Vec<Segment> = m
        .text_bodies()
        .find(|p| !p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(linkify)
        .unwrap_or_default();
    let has_html = m.html_bodies().any(|p| p.is_text_html());
    let attachments: Vec<AttachmentInfo> = m
        .attachments()
        .enumerate()
        .map(|(index, p)| AttachmentInfo {
            index,
            name: p.attachment_name().unwrap_or("piece-jointe").to_string(),
            content_type: content_type_of(p),
            size: p.len(),
        })
        .collect();
    let shown = Shown {
        key: key.to_string(),
        subject: m.subject().unwrap_or("(sans objet)").to_string(),
        from: address(&m, false),
        to: address(&m, true),
        date: date(&m),
        message_id: m.message_id().unwrap_or("").to_string(),
        text,
        has_html,
        attachments,
    };
    Some(shown)
}

fn content_type_of(p: &mail_parser::MessagePart<'_>) -> String {
    p.content_type()
        .map(|c| match c.subtype() {
            Some(sub) => format!("{}/{sub}", c.ctype()),
            None => c.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// The HTML part of a message, as sent.
pub fn html(dir: &Path, key: &str) -> Option<String> {
    let raw = std::fs::read(path_of(dir, key)?).ok()?;
    let m = MessageParser::default().parse(&raw)?;
    let html = m
        .html_bodies()
        .find(|p| p.is_text_html())?
        .text_contents()?
        .to_string();
    Some(html)
}

/// The `index`-th attachment: file name, content type and bytes.
pub fn attachment(dir: &Path, key: &str, index: usize) -> Option<(String, String, Vec<u8>)> {
    let raw = std::fs::read(path_of(dir, key)?).ok()?;
    let m = MessageParser::default().parse(&raw)?;
    let found = m.attachments().nth(index).map(|part| {
        (
            part.attachment_name().unwrap_or("piece-jointe").to_string(),
            content_type_of(part),
            part.contents().to_vec(),
        )
    });
    found
}

/// Splits a text into plain pieces and `http(s)://` links, so the page can make the links
/// clickable without rendering any of the text as HTML.
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let end = rest[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '»'))
            .map(|n| start + n)
            .unwrap_or(rest.len());
        let mut link = &rest[start..end];
        // A sentence's final punctuation is not part of the link.
        while link.ends_with(['.', ',', ';', ':', ')', '!', '?']) {
            link = &link[..link.len() - 1];
        }
        let end = start + link.len();
        if start > 0 {
            out.push(Segment {
                text: rest[..start].to_string(),
                link: false,
            });
        }
        out.push(Segment {
            text: link.to_string(),
            link: true,
        });
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Segment {
            text: rest.to_string(),
            link: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_cut_out_of_the_text() {
        let s = linkify("Ouvrez http://127.0.0.1:8000/connexion/lien/ab12.\nMerci.");
        assert_eq!(
            s,
            vec![
                Segment {
                    text: "Ouvrez ".into(),
                    link: false
                },
                Segment {
                    text: "http://127.0.0.1:8000/connexion/lien/ab12".into(),
                    link: true
                },
                Segment {
                    text: ".\nMerci.".into(),
                    link: false
                },
            ]
        );
        assert_eq!(
            linkify("rien"),
            vec![Segment {
                text: "rien".into(),
                link: false
            }]
        );
        assert_eq!(linkify("").len(), 0);
    }

    /// A mail with an HTML part and a calendar file, built and written by the real folder
    /// transport, reads back whole: text with its link, the HTML part, the attachment.
    #[tokio::test]
    async fn html_parts_and_attachments_read_back_from_the_folder() {
        use crate::notifications::store::Claimed;
        use crate::notifications::transport::{build_message, Transport};
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        let claimed = Claimed {
            id: uuid::Uuid::new_v4(),
            kind: "test".into(),
            recipient: "Aïcha Diallo <aicha@exemple.test>".into(),
            subject: "Votre inscription".into(),
            body_text: "Bonjour,\nVoir https://reperes.test/formations/1.\n".into(),
            body_html: Some(
                "<p>Bonjour, <a href=\"https://reperes.test/formations/1\">voir</a></p>".into(),
            ),
            attachments: serde_json::to_string(&[crate::notifications::Attachment {
                filename: "invitation.ics".into(),
                content_type: "text/calendar; method=REQUEST; charset=utf-8".into(),
                data: base64::engine::general_purpose::STANDARD.encode(ics),
            }])
            .unwrap(),
            tries: 1,
            obligation_ids: None,
            list_unsubscribe: Some("https://reperes.test/desabonnement/abc".into()),
        };
        let message = build_message(
            &claimed,
            "Repères <ne-pas-repondre@reperes.test>",
            "https://reperes.test",
        )
        .unwrap();
        let transport = Transport::Folder(dir.path().to_path_buf());
        transport
            .send(message, "20261202T100000000000-abc")
            .await
            .unwrap();

        let list = list(dir.path()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].subject, "Votre inscription");
        assert_eq!(list[0].attachments, 1);
        let shown = read(dir.path(), &list[0].key).unwrap();
        assert!(shown.has_html);
        assert!(shown
            .text
            .iter()
            .any(|s| s.link && s.text == "https://reperes.test/formations/1"));
        assert_eq!(shown.attachments[0].name, "invitation.ics");
        assert_eq!(shown.attachments[0].content_type, "text/calendar");
        assert!(shown.message_id.contains("@reperes.test"));
        assert!(html(dir.path(), &list[0].key).unwrap().contains("<a href="));
        let (name, _, bytes) = attachment(dir.path(), &list[0].key, 0).unwrap();
        assert_eq!(
            (name.as_str(), bytes.as_slice()),
            ("invitation.ics", ics.as_bytes())
        );
        assert!(attachment(dir.path(), &list[0].key, 1).is_none());
        let raw = std::fs::read_to_string(dir.path().join(format!("{}.eml", list[0].key))).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://reperes.test/desabonnement/abc>"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    }

    #[test]
    fn keys_cannot_leave_the_folder() {
        assert!(valid_key("20261202T101500123456-0a1b2c"));
        for bad in ["", "../secret", "a/b", "a.eml", "x\0"] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
