//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>")), one per
//! active secret, space-separated (during a rotation both the current and the previous secret sign).
//!
//! Written on RustCrypto's `hmac` and `sha2` rather than the `standardwebhooks` crate: its last release (1.0.1)
//! verifies a signature by zipping it with the expected one, so an empty or truncated signature passes; we only
//! sign, but would not ship a crate whose verifier is broken as the reference for our receivers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// One signing key (the bytes a `whsec_` secret encodes).
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The secrets a subscription signs with: the current one first, then the previous one during a rotation.
#[derive(Debug, Clone)]
pub struct Secrets(Vec<Key>);

impl Secrets {
    /// A secret's value: `whsec_<base64>`, or JSON `{"current": "whsec_…", "previous": "whsec_…"}` (previous
    /// optional). Errors never repeat the value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.starts_with('{') {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Rotation {
                current: String,
                #[serde(default)]
                previous: Option<String>,
            }
            let r: Rotation = serde_json::from_str(value).map_err(|_| {
                "a JSON secret must be {\"current\": \"whsec_…\", \"previous\": \"whsec_…\"}".to_owned()
            })?;
            let mut keys = vec![key(&r.current).map_err(|e| format!("current: {e}"))?];
            if let Some(previous) = r.previous.filter(|p| !p.is_empty()) {
                keys.push(key(&previous).map_err(|e| format!("previous: {e}"))?);
            }
            return Ok(Self(keys));
        }
        Ok(Self(vec![key(value)?]))
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::new();
        for (i, Key(bytes)) in self.0.iter().enumerate() {
            // A key of any length is accepted by HMAC; the error case cannot happen.
            let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes) else { continue };
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            if i > 0 {
                out.push(' ');
            }
            out.push_str("v1,");
            out.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
        }
        out
    }
}

fn key(secret: &str) -> Result<Key, String> {
    let encoded = secret.strip_prefix("whsec_").ok_or("a signing secret starts with whsec_")?;
    let bytes = STANDARD.decode(encoded).map_err(|_| "the part after whsec_ is not base64".to_owned())?;
    if bytes.len() < 24 {
        return Err(format!("the key is {} bytes; at least 24 (Standard Webhooks: 24 to 64)", bytes.len()));
    }
    Ok(Key(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of the Standard Webhooks libraries' own tests.
    #[test]
    fn the_libraries_vector() {
        let secrets = Secrets::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secrets.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    /// The vector of Svix's documentation.
    #[test]
    fn the_documented_vector() {
        let secrets = Secrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secrets.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn both_secrets_sign_during_a_rotation() {
        let json = r#"{"current": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "previous": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}"#;
        let sig = Secrets::parse(json).unwrap().sign("id", 1, b"{}");
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,") && p.len() == 3 + 44));
        assert_eq!(parts[0], Secrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap().sign("id", 1, b"{}"));
    }

    #[test]
    fn bad_secrets_are_named_without_their_value() {
        for (bad, expected) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"),
            ("whsec_not base64!", "base64"),
            ("whsec_c2hvcnQ=", "at least 24"),
            (r#"{"current": "whsec_c2hvcnQ="}"#, "current: "),
            (r#"{"next": "x"}"#, "JSON secret"),
        ] {
            let err = Secrets::parse(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
            assert!(!err.contains("c2hvcnQ") && !err.contains("MfKQ"), "{err}");
        }
        assert_eq!(
            format!("{:?}", Secrets::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()),
            "Secrets([Key(<redacted>)])"
        );
    }
}
