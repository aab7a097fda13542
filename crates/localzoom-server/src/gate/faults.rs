//! Fault rules of the control API (`/_localzoom/v1/faults`): make chosen calls to Zoom's API fail on purpose, as
//! LocalStack's chaos API does, so a test can watch its code retry, back off or give up. A rule matches calls by
//! operation, path, account and app; fires always, with a probability, and/or for the next N calls; and answers
//! with an error, adds latency, or resets the connection. Each rule draws from its own seeded random source: the
//! same seed and the same calls fire the same way again.

use std::sync::Mutex;
use std::time::Duration;

/// The longest latency a rule may add.
pub const MAX_LATENCY_MS: u64 = 60_000;
/// The most rules kept at once.
pub const MAX_RULES: usize = 100;

/// Which calls a rule applies to: all the given parts must match.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FaultMatch {
    /// Zoom's `operationId`.
    pub operation: Option<String>,
    /// A glob on the path (`*` stands for any run of characters, `/` included).
    pub path: Option<String>,
    pub account_id: Option<String>,
    /// The OAuth app (client id).
    pub client_id: Option<String>,
}

/// The latency a rule adds before the call goes on (or its answer is given).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Latency {
    Fixed(u64),
    /// Uniform between the two, in milliseconds.
    Between {
        min: u64,
        max: u64,
    },
}

/// What a rule's answer is instead of localzoom's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultAnswer {
    pub status: u16,
    pub code: u32,
    pub message: String,
}

/// What a rule does to a call it fires on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FaultEffect {
    #[serde(flatten)]
    pub answer: Option<FaultAnswer>,
    #[serde(rename = "latency_ms")]
    pub latency: Option<Latency>,
    pub reset_connection: bool,
}

/// A rule as it was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFaultRule {
    pub matching: FaultMatch,
    /// The chance (0–1) a matching call fires it; `None`: always.
    pub probability: Option<f64>,
    /// Fire on at most this many calls; `None`: no end.
    pub times: Option<u64>,
    pub effect: FaultEffect,
    /// The random source's seed; `None`: one is drawn (and shown, to replay the run).
    pub seed: Option<u64>,
}

/// A rule as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FaultRule {
    pub id: String,
    #[serde(flatten)]
    pub matching: FaultMatch,
    pub probability: Option<f64>,
    pub times: Option<u64>,
    /// How many more calls it fires on (`times` minus those it fired on).
    pub remaining: Option<u64>,
    pub fired: u64,
    #[serde(flatten)]
    pub effect: FaultEffect,
    pub seed: u64,
    #[serde(skip)]
    random: SplitMix64,
}

/// What a rule decided for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub rule_id: String,
    pub latency: Option<Duration>,
    pub answer: Option<FaultAnswer>,
    pub reset_connection: bool,
}

/// The facts of a call a rule may match on; the caller is looked up only if some rule asks for it.
pub struct Call<'a> {
    pub operation: Option<&'a str>,
    pub path: &'a str,
}

/// SplitMix64: a tiny generator whose sequence depends on nothing but its seed (not on a crate's version).
#[derive(Debug, Clone, PartialEq)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `*` matches any run of characters; everything else itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[derive(Default)]
pub struct FaultRules {
    inner: Mutex<Rules>,
}

#[derive(Default)]
struct Rules {
    rules: Vec<FaultRule>,
    next_id: u64,
}

impl FaultRules {
    /// Adds a rule after the others (the first that fires on a call decides it); `None` when there are already
    /// `MAX_RULES`.
    pub fn add(&self, new: NewFaultRule) -> Option<FaultRule> {
        let mut inner = self.inner.lock().ok()?;
        if inner.rules.len() >= MAX_RULES {
            return None;
        }
        inner.next_id += 1;
        let seed = new.seed.unwrap_or_else(rand::random);
        let rule = FaultRule {
            id: format!("fault-{}", inner.next_id),
            matching: new.matching,
            probability: new.probability,
            times: new.times,
            remaining: new.times,
            fired: 0,
            effect: new.effect,
            seed,
            random: SplitMix64(seed),
        };
        inner.rules.push(rule.clone());
        Some(rule)
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.inner
            .lock()
            .map(|inner| inner.rules.clone())
            .unwrap_or_default()
    }

    /// Whether any rule is kept: a server without rules checks nothing more per call.
    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .map_or(true, |inner| inner.rules.is_empty())
    }

    /// Whether some rule matches on the caller's account or app (which costs a token lookup to learn).
    pub fn need_caller(&self) -> bool {
        self.inner.lock().is_ok_and(|inner| {
            inner
                .rules
                .iter()
                .any(|r| r.matching.account_id.is_some() || r.matching.client_id.is_some())
        })
    }

    /// Deletes one rule (`Some(id)`: whether it was there) or all.
    pub fn delete(&self, id: Option<&str>) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        match id {
            None => {
                inner.rules.clear();
                true
            }
            Some(id) => {
                let before = inner.rules.len();
                inner.rules.retain(|r| r.id != id);
                inner.rules.len() < before
            }
        }
    }

    /// The fault of the first rule that matches the call and fires, if any. `caller` is the call's (account,
    /// client id), when known.
    pub fn decide(&self, call: &Call<'_>, caller: Option<(&str, &str)>) -> Option<Fault> {
        let mut inner = self.inner.lock().ok()?;
        for rule in inner.rules.iter_mut() {
            let m = &rule.matching;
            let matches = m
                .operation
                .as_deref()
                .is_none_or(|op| call.operation == Some(op))
                && m.path
                    .as_deref()
                    .is_none_or(|pattern| glob_matches(pattern, call.path))
                && m.account_id
                    .as_deref()
                    .is_none_or(|id| caller.is_some_and(|(account, _)| account == id))
                && m.client_id
                    .as_deref()
                    .is_none_or(|id| caller.is_some_and(|(_, client)| client == id));
            if !matches || rule.remaining == Some(0) {
                continue;
            }
            // A draw for every matching call, fired or not, so the sequence depends on the calls alone.
            if let Some(p) = rule.probability
                && rule.random.unit() >= p
            {
                continue;
            }
            if let Some(remaining) = &mut rule.remaining {
                *remaining -= 1;
            }
            rule.fired += 1;
            let latency = rule.effect.latency.map(|latency| {
                Duration::from_millis(match latency {
                    Latency::Fixed(ms) => ms,
                    Latency::Between { min, max } => {
                        min + (rule.random.unit() * (max - min + 1) as f64) as u64
                    }
                })
            });
            return Some(Fault {
                rule_id: rule.id.clone(),
                latency,
                answer: rule.effect.answer.clone(),
                reset_connection: rule.effect.reset_connection,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_any_run_of_characters() {
        for (pattern, text, expected) in [
            ("/v2/users/*/status", "/v2/users/abc/status", true),
            ("/v2/users/*/status", "/v2/users/abc/token", false),
            ("/v2/users/*", "/v2/users/a/b", true),
            ("*/token", "/v2/users/a/token", true),
            ("/v2/users", "/v2/users/a", false),
            ("*", "", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} {text}");
        }
    }

    fn rule(probability: Option<f64>, times: Option<u64>, seed: u64) -> NewFaultRule {
        NewFaultRule {
            matching: FaultMatch {
                operation: Some("userStatus".into()),
                ..Default::default()
            },
            probability,
            times,
            effect: FaultEffect {
                answer: Some(FaultAnswer {
                    status: 500,
                    code: 500,
                    message: "x".into(),
                }),
                ..Default::default()
            },
            seed: Some(seed),
        }
    }

    fn fired(rules: &FaultRules, calls: usize) -> Vec<bool> {
        let call = Call {
            operation: Some("userStatus"),
            path: "/v2/users/a/status",
        };
        (0..calls)
            .map(|_| rules.decide(&call, None).is_some())
            .collect()
    }

    #[test]
    fn a_seed_replays_the_same_faults_and_times_runs_out() {
        let (a, b) = (FaultRules::default(), FaultRules::default());
        a.add(rule(Some(0.5), None, 42));
        b.add(rule(Some(0.5), None, 42));
        let first = fired(&a, 64);
        assert_eq!(first, fired(&b, 64));
        let hits = first.iter().filter(|f| **f).count();
        assert!((16..48).contains(&hits), "{hits} of 64");

        let twice = FaultRules::default();
        twice.add(rule(None, Some(2), 1));
        assert_eq!(fired(&twice, 4), [true, true, false, false]);
        assert_eq!(twice.list()[0].remaining, Some(0));
        assert_eq!(twice.list()[0].fired, 2);
        // Other operations are not touched.
        let other = Call {
            operation: Some("user"),
            path: "/v2/users/a",
        };
        let always = FaultRules::default();
        always.add(rule(None, None, 1));
        assert_eq!(always.decide(&other, None), None);
    }
}
