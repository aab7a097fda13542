//! What a new password must satisfy: Zoom's basic rules, then the account's enhanced `password_requirement`.

use localzoom_api::PasswordRequirement;

/// The rule a password broke. `error.rs` maps each to Zoom's code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    /// Shorter than the minimum (8, or the account's `minimum_password_length`).
    TooShort(u32),
    /// 32 characters or more (Zoom: "fewer than 32 characters").
    TooLong,
    NoLetter,
    NoDigit,
    NoSpecialCharacter,
    NotMixedCase,
    SameCharacter,
    ConsecutiveCharacters,
    TooEasyToGuess,
    /// One of the last `n` passwords.
    Reused(u32),
    SameAsCurrent,
    TooManyChangesToday,
}

pub const MIN_LENGTH: u32 = 8;
/// `PUT /users/{userId}/password`: "fewer than 32 characters".
pub const MAX_LENGTH: usize = 31;
/// `POST /users` `user_info.password`: `maxLength: 32`.
pub const MAX_LENGTH_ON_CREATE: usize = 32;

/// Checks a password change against the rules that need no stored state: the basic rules always, the enhanced
/// ones the account enabled.
pub fn check(password: &str, requirement: &PasswordRequirement) -> Result<(), PasswordRule> {
    check_within(password, requirement, MAX_LENGTH)
}

/// `check` for the password a user is created with, which may be one character longer (S1's limits differ).
pub fn check_on_create(
    password: &str,
    requirement: &PasswordRequirement,
) -> Result<(), PasswordRule> {
    check_within(password, requirement, MAX_LENGTH_ON_CREATE)
}

fn check_within(
    password: &str,
    requirement: &PasswordRequirement,
    max_length: usize,
) -> Result<(), PasswordRule> {
    let chars: Vec<char> = password.chars().collect();
    if chars.len() > max_length {
        return Err(PasswordRule::TooLong);
    }
    if (chars.len() as u32) < MIN_LENGTH {
        return Err(PasswordRule::TooShort(MIN_LENGTH));
    }
    if chars.iter().all(|c| *c == chars[0]) {
        return Err(PasswordRule::SameCharacter);
    }
    if longest_run(&chars) == chars.len() {
        return Err(PasswordRule::ConsecutiveCharacters);
    }
    if !chars.iter().any(|c| c.is_alphabetic()) {
        return Err(PasswordRule::NoLetter);
    }
    if !chars.iter().any(|c| c.is_ascii_digit()) {
        return Err(PasswordRule::NoDigit);
    }
    if !(chars.iter().any(|c| c.is_uppercase()) && chars.iter().any(|c| c.is_lowercase())) {
        return Err(PasswordRule::NotMixedCase);
    }
    let min = requirement.minimum_password_length;
    if min > MIN_LENGTH && (chars.len() as u32) < min {
        return Err(PasswordRule::TooShort(min));
    }
    if requirement.have_special_character && !chars.iter().any(|c| is_special(*c)) {
        return Err(PasswordRule::NoSpecialCharacter);
    }
    let run_limit = requirement.consecutive_characters_length as usize;
    if run_limit > 0 && longest_run(&chars) >= run_limit {
        return Err(PasswordRule::ConsecutiveCharacters);
    }
    if requirement.weak_enhance_detection && is_weak(password) {
        return Err(PasswordRule::TooEasyToGuess);
    }
    Ok(())
}

fn is_special(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}

/// The longest run of characters that step by one in either direction (`abcd`, `4321`); letters compare
/// case-insensitively.
fn longest_run(chars: &[char]) -> usize {
    let key = |c: char| c.to_ascii_lowercase() as i64;
    let (mut longest, mut current, mut step) = (1usize, 1usize, 0i64);
    for pair in chars.windows(2) {
        let diff = key(pair[1]) - key(pair[0]);
        let same_class = pair[0].is_ascii_alphanumeric()
            && pair[1].is_ascii_alphanumeric()
            && pair[0].is_ascii_digit() == pair[1].is_ascii_digit();
        if same_class && (diff == 1 || diff == -1) {
            current = if diff == step { current + 1 } else { 2 };
            step = diff;
        } else {
            current = 1;
            step = 0;
        }
        longest = longest.max(current);
    }
    longest.min(chars.len())
}

/// Words at the core of the most common leaked passwords. A password is weak when, after undoing common
/// substitutions (`0`→`o`, `@`→`a`, …) and dropping digits and symbols, what is left is one of these words.
const WEAK_WORDS: &[&str] = &[
    "password",
    "passw",
    "qwerty",
    "qwertyuiop",
    "asdf",
    "asdfgh",
    "zxcvbn",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "zoom",
    "zoomus",
    "iloveyou",
    "monkey",
    "dragon",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "soccer",
    "hockey",
    "master",
    "superman",
    "batman",
    "trustno",
    "shadow",
    "michael",
    "jennifer",
    "abc",
    "abcd",
    "abcdef",
    "login",
    "changeme",
    "secret",
    "summer",
    "winter",
    "spring",
    "autumn",
    "freedom",
    "whatever",
    "hello",
    "charlie",
    "computer",
    "internet",
    "starwars",
    "pokemon",
    "access",
    "flower",
    "test",
    "guest",
    "user",
    "default",
    "company",
    "qazwsx",
    "mustang",
    "ninja",
    "azerty",
    "solo",
    "killer",
];

fn is_weak(password: &str) -> bool {
    // Digits and symbols around a word ("Password123!", "2024Welcome") are the usual padding; inside it they
    // are usually substitutions ("P@ssw0rd").
    let trimmed = password.trim_matches(|c: char| c.is_ascii_digit() || is_special(c));
    let unsubstituted: String = trimmed
        .chars()
        .filter_map(|c| match c.to_ascii_lowercase() {
            '0' => Some('o'),
            '1' | '!' => Some('i'),
            '3' => Some('e'),
            '4' | '@' => Some('a'),
            '5' | '$' => Some('s'),
            '7' => Some('t'),
            c if c.is_ascii_lowercase() => Some(c),
            _ => None,
        })
        .collect();
    let letters: String = password
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [unsubstituted, letters]
        .iter()
        .any(|candidate| WEAK_WORDS.contains(&candidate.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(p: &str) -> Result<(), PasswordRule> {
        check(p, &PasswordRequirement::default())
    }

    #[test]
    fn basic_rules_in_order() {
        assert_eq!(basic("Ab1"), Err(PasswordRule::TooShort(8)));
        assert_eq!(
            basic("Abcdefgh1234567890123456789012345"),
            Err(PasswordRule::TooLong)
        );
        assert_eq!(basic("aaaaaaaa"), Err(PasswordRule::SameCharacter));
        assert_eq!(basic("12345678"), Err(PasswordRule::ConsecutiveCharacters));
        assert_eq!(basic("abcdefgh"), Err(PasswordRule::ConsecutiveCharacters));
        assert_eq!(basic("87654321"), Err(PasswordRule::ConsecutiveCharacters));
        assert_eq!(basic("13572468"), Err(PasswordRule::NoLetter));
        assert_eq!(basic("dolor Excepteur minim"), Err(PasswordRule::NoDigit));
        assert_eq!(basic("lowercase1only"), Err(PasswordRule::NotMixedCase));
        assert_eq!(basic("Valid1Pass"), Ok(()));
        // 31 characters is the longest accepted.
        assert_eq!(basic("Abcdefgh1jklmnopqrstuvwxyz12345"), Ok(()));
    }

    #[test]
    fn enhanced_rules_apply_only_when_enabled() {
        let req = PasswordRequirement {
            minimum_password_length: 12,
            have_special_character: true,
            consecutive_characters_length: 4,
            weak_enhance_detection: true,
        };
        assert_eq!(check("Valid1Pass", &req), Err(PasswordRule::TooShort(12)));
        // 32 characters: a user may be created with it, not change to it.
        let longest = "Valid1Pass".repeat(3) + "Zz";
        assert_eq!(longest.chars().count(), 32);
        let plain = PasswordRequirement::default();
        assert_eq!(check_on_create(&longest, &plain), Ok(()));
        assert_eq!(check(&longest, &plain), Err(PasswordRule::TooLong));
        assert_eq!(
            check_on_create(&(longest.clone() + "x"), &plain),
            Err(PasswordRule::TooLong)
        );
        assert_eq!(
            check("Valid1Passwrd", &req),
            Err(PasswordRule::NoSpecialCharacter)
        );
        assert_eq!(
            check("Vxabcd1Pass!z", &req),
            Err(PasswordRule::ConsecutiveCharacters)
        );
        assert_eq!(check("Vxabc1Pass!zq", &req), Ok(()));
        assert_eq!(
            check("P@ssw0rd!2024", &req),
            Err(PasswordRule::TooEasyToGuess)
        );
        assert_eq!(
            check("Password1937!", &req),
            Err(PasswordRule::TooEasyToGuess)
        );
        assert_eq!(basic("P@ssw0rd!2024"), Ok(()));
    }
}

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::fuzz::fuzz;

    /// Any password text, against the strictest requirement, is accepted or refused by a rule; never a panic.
    #[test]
    fn fuzz_password_rules() {
        let strict = PasswordRequirement {
            minimum_password_length: 14,
            have_special_character: true,
            consecutive_characters_length: 4,
            weak_enhance_detection: true,
        };
        fuzz(
            "password_rules",
            &[
                b"a",
                b"A",
                b"1",
                b"!",
                b"abcd",
                b"4321",
                b"password",
                b"\xc3\xa9",
                b"\xf0\x9f\x98\x80",
            ],
            |input| {
                let text = String::from_utf8_lossy(input);
                let _ = check(&text, &strict);
                let _ = check(&text, &PasswordRequirement::default());
            },
        );
    }
}
