//! Just enough MIME reading for tests to check what a `Mailer` delivered: unfolded headers,
//! RFC 2047 encoded words, nested multiparts, and 7bit, 8bit, quoted-printable and base64
//! bodies, in UTF-8. Line endings may be CRLF (as sent) or LF (as a Maildir stores them).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A parsed message or part.
#[derive(Debug, Clone, Default)]
pub struct Mime {
    headers: Vec<(String, String)>,
    /// The decoded body of a leaf part; empty for a multipart.
    pub body: String,
    pub parts: Vec<Mime>,
}

impl Mime {
    /// # Panics
    /// If the text is not a MIME message (a test failure, with the reason).
    pub fn parse(raw: &str) -> Self {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                let (_, value) = headers.last_mut().expect("a continuation after a header");
                value.push(' ');
                value.push_str(line.trim());
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut mime = Mime { headers, ..Mime::default() };
        let content_type = mime.header_raw("content-type").unwrap_or("text/plain").to_owned();
        if content_type.to_ascii_lowercase().starts_with("multipart/") {
            let boundary = parameter(&content_type, "boundary").expect("multipart boundary");
            let delimiter = format!("--{boundary}");
            let mut sections = body.split(&delimiter).skip(1);
            for section in sections.by_ref() {
                if section.starts_with("--") {
                    break;
                }
                let section = section.strip_prefix('\n').unwrap_or(section);
                mime.parts.push(Mime::parse(section.strip_suffix('\n').unwrap_or(section)));
            }
        } else {
            let encoding = mime.header_raw("content-transfer-encoding").unwrap_or("7bit");
            mime.body = decode_body(body, &encoding.to_ascii_lowercase());
        }
        mime
    }

    fn header_raw(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// A header's value with encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_raw(name).map(decode_words)
    }

    /// The first leaf part (depth first) whose type starts with `mime_type`.
    pub fn part(&self, mime_type: &str) -> Option<&Mime> {
        if self.parts.is_empty() {
            let own = self.header_raw("content-type").unwrap_or("text/plain").to_ascii_lowercase();
            return own.starts_with(mime_type).then_some(self);
        }
        self.parts.iter().find_map(|part| part.part(mime_type))
    }

    pub fn text(&self) -> Option<&str> {
        self.part("text/plain").map(|p| p.body.as_str())
    }

    pub fn html(&self) -> Option<&str> {
        self.part("text/html").map(|p| p.body.as_str())
    }
}

fn parameter(header: &str, name: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|param| {
        let (key, value) = param.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn decode_body(body: &str, encoding: &str) -> String {
    match encoding {
        "quoted-printable" => String::from_utf8_lossy(&decode_quoted_printable(body)).into_owned(),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = STANDARD.decode(compact).expect("base64 body");
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => body.to_owned(),
    }
}

fn hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 2; // soft line break
                continue;
            }
            if let Some(byte) = bytes.get(i + 1..i + 3).and_then(hex_pair) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// RFC 2047: `=?utf-8?b?…?=` and `=?utf-8?q?…?=`, whitespace between two words dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let decoded = from[2..].splitn(3, '?').collect::<Vec<_>>();
        let word = match decoded.as_slice() {
            [_charset, encoding, tail] => tail.find("?=").map(|end| (encoding, &tail[..end], end)),
            _ => None,
        };
        let Some((encoding, text, end)) = word else { break };
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let bytes = if encoding.eq_ignore_ascii_case("b") {
            STANDARD.decode(text).expect("base64 encoded word")
        } else {
            decode_quoted_printable(&text.replace('_', " "))
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        let consumed = 2 + decoded[0].len() + 1 + encoding.len() + 1 + end + 2;
        rest = &from[consumed..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_message_with_encoded_parts_reads_back() {
        let raw = "Subject: =?utf-8?b?w4ls?= =?utf-8?q?=C3=A9_ok?=\r\nTo: a@example.com\r\n\
            Content-Type: multipart/alternative;\r\n boundary=\"XX\"\r\n\r\n--XX\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            token=3Dabc=\r\ndef caf=C3=A9\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n--XX--\r\n";
        let mail = Mime::parse(raw);
        assert_eq!(mail.header("subject").unwrap(), "Élé ok");
        assert_eq!(mail.text().unwrap(), "token=abcdef café");
        assert_eq!(mail.html().unwrap(), "<b>hi</b>");
    }
}
