//! User tokens as `src/auth/token.ts` mints them:
//! `<userId>.<expiresAtSeconds>.<base64url(HMAC-SHA256(secret, "<userId>.<expiresAtSeconds>"))>`.
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt::Write as _;

/// Write the token of `user`, valid until unix second `expires_at`, into `out` (cleared first).
pub fn mint_token_into(secret: &[u8], user: u32, expires_at: u64, out: &mut String) {
    out.clear();
    let _ = write!(out, "{user}.{expires_at}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(out.as_bytes());
    let digest = mac.finalize().into_bytes();
    out.push('.');
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(digest, out);
}

pub fn mint_token(secret: &[u8], user: u32, expires_at: u64) -> String {
    let mut out = String::with_capacity(64);
    mint_token_into(secret, user, expires_at, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_token_minted_by_the_typescript_code() {
        // node -e "import('./src/auth/token.ts').then(m => console.log(m.mintToken('test-secret-0123456789abcdef', 42, 1900000000)))"
        assert_eq!(
            mint_token(b"test-secret-0123456789abcdef", 42, 1_900_000_000),
            "42.1900000000.prJeJiTJAiW_vjFq293CDaVciubSe4COmyNLQaYZEZs",
            "the same bytes as mintToken"
        );
    }

    #[test]
    fn token_shape() {
        let t = mint_token(b"s", 4_294_967_295, 1);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3, "three dot-separated parts: {t}");
        assert_eq!(parts[0], "4294967295", "the user id in decimal");
        assert_eq!(parts[2].len(), 43, "32 bytes in unpadded base64url");
    }
}
