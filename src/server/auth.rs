//! `mysql_native_password`: the stored hash is SHA1(SHA1(password)); the client proves it knows
//! the password by sending SHA1(password) XOR SHA1(scramble + stored). Each connection gets a
//! fresh random 20-byte scramble, so a captured answer cannot be replayed.

use rand::Rng;
use sha1::{Digest, Sha1};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";

/// A per-connection scramble: 20 printable bytes (some clients treat NUL as a terminator).
pub fn new_scramble() -> [u8; 20] {
    let mut rng = rand::rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        *b = rng.random_range(0x21..0x7F);
    }
    s
}

/// Checks a client's answer. `stored` is `None` for an empty password, which only an empty
/// answer matches.
pub fn verify(stored: Option<&[u8; 20]>, scramble: &[u8; 20], answer: &[u8]) -> bool {
    let Some(stored) = stored else {
        return answer.is_empty();
    };
    let Ok(answer) = <[u8; 20]>::try_from(answer) else {
        return false;
    };
    let mut h = Sha1::new();
    h.update(scramble);
    h.update(stored);
    let mask: [u8; 20] = h.finalize().into();
    let mut candidate = [0u8; 20];
    for ((c, a), m) in candidate.iter_mut().zip(answer).zip(mask) {
        *c = a ^ m;
    }
    let check: [u8; 20] = Sha1::digest(candidate).into();
    // Constant-time comparison: do not leak how many bytes matched.
    check
        .iter()
        .zip(stored)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::users::native_hash;

    /// What a client computes.
    fn answer(password: &str, scramble: &[u8; 20]) -> [u8; 20] {
        let once: [u8; 20] = Sha1::digest(password.as_bytes()).into();
        let twice: [u8; 20] = Sha1::digest(once).into();
        let mut h = Sha1::new();
        h.update(scramble);
        h.update(twice);
        let mask: [u8; 20] = h.finalize().into();
        let mut out = [0u8; 20];
        for ((o, a), m) in out.iter_mut().zip(once).zip(mask) {
            *o = a ^ m;
        }
        out
    }

    #[test]
    fn right_password_passes_wrong_fails() {
        let s = new_scramble();
        let stored = native_hash("secret");
        assert!(verify(Some(&stored), &s, &answer("secret", &s)));
        assert!(!verify(Some(&stored), &s, &answer("Secret", &s)));
        assert!(!verify(Some(&stored), &s, b""));
        assert!(!verify(Some(&stored), &s, b"short"));
        assert!(verify(None, &s, b""));
        assert!(!verify(None, &s, &answer("x", &s)));
    }

    #[test]
    fn scrambles_differ_and_are_printable() {
        let (a, b) = (new_scramble(), new_scramble());
        assert_ne!(a, b);
        assert!(a.iter().all(|c| (0x21..0x7F).contains(c)));
    }
}
