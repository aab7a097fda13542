//! Zoom's rate limits as rules (USERS_API.md §4): which quotas an account has on its plan, by the names the CLI
//! and the docs use, and per-account overrides of any of them. Enforcement is `gate::rate_limit`.

use std::fmt;

/// An operation's *Rate Limit Label* in Zoom's spec: the request type whose quota a call spends.
pub use localzoom_api::operations::Label;

use super::account::AccountPlan;

/// The plan tiers of Zoom's rate-limit table; Business, Education, Enterprise and Partners share one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Free,
    Pro,
    BusinessPlus,
}

impl Plan {
    /// The column of an account's plan.
    pub fn of(plan: AccountPlan) -> Plan {
        match plan {
            AccountPlan::Free => Plan::Free,
            AccountPlan::Pro => Plan::Pro,
            AccountPlan::Business | AccountPlan::Enterprise => Plan::BusinessPlus,
        }
    }
}

/// One quota of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Requests of a label per second (per minute for Resource-intensive), enforced smoothly (GCRA).
    Rate(Label),
    /// Requests of a label per UTC day (Free plan).
    Daily(Label),
    /// Heavy and Resource-intensive requests together per UTC day (Pro and Business+).
    HeavySharedDaily,
    /// `POST /users` with `action=create` per UTC day (§4.3).
    UserCreateDaily,
}

pub const DAY_MS: i64 = 86_400_000;

impl Limit {
    pub const ALL: [Limit; 10] = [
        Limit::Rate(Label::Light),
        Limit::Rate(Label::Medium),
        Limit::Rate(Label::Heavy),
        Limit::Rate(Label::ResourceIntensive),
        Limit::Daily(Label::Light),
        Limit::Daily(Label::Medium),
        Limit::Daily(Label::Heavy),
        Limit::Daily(Label::ResourceIntensive),
        Limit::HeavySharedDaily,
        Limit::UserCreateDaily,
    ];

    /// The name in `localzoom accounts set-limits --rate-limit NAME=N`.
    pub fn name(self) -> &'static str {
        use Label::*;
        match self {
            Limit::Rate(Light) => "light",
            Limit::Rate(Medium) => "medium",
            Limit::Rate(Heavy) => "heavy",
            Limit::Rate(ResourceIntensive) => "resource-intensive",
            Limit::Daily(Light) => "light-daily",
            Limit::Daily(Medium) => "medium-daily",
            Limit::Daily(Heavy) => "heavy-daily",
            Limit::Daily(ResourceIntensive) => "resource-intensive-daily",
            Limit::HeavySharedDaily => "heavy-resource-intensive-daily",
            Limit::UserCreateDaily => "user-create-daily",
        }
    }

    pub fn parse(name: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The window the count applies to.
    pub fn period_ms(self) -> i64 {
        match self {
            Limit::Rate(Label::ResourceIntensive) => 60_000,
            Limit::Rate(_) => 1_000,
            _ => DAY_MS,
        }
    }

    /// Zoom's value on a plan (§4.2, §4.3); `None` where the plan has no such quota.
    pub fn default_for(self, plan: Plan) -> Option<u32> {
        use Label::*;
        use Plan::*;
        match (self, plan) {
            (Limit::Rate(Light), Free) => Some(4),
            (Limit::Rate(Light), Pro) => Some(30),
            (Limit::Rate(Light), BusinessPlus) => Some(80),
            (Limit::Rate(Medium), Free) => Some(2),
            (Limit::Rate(Medium), Pro) => Some(20),
            (Limit::Rate(Medium), BusinessPlus) => Some(60),
            (Limit::Rate(Heavy), Free) => Some(1),
            (Limit::Rate(Heavy), Pro) => Some(10),
            (Limit::Rate(Heavy), BusinessPlus) => Some(40),
            (Limit::Rate(ResourceIntensive), Free | Pro) => Some(10),
            (Limit::Rate(ResourceIntensive), BusinessPlus) => Some(20),
            (Limit::Daily(Light), Free) => Some(6_000),
            (Limit::Daily(Medium), Free) => Some(2_000),
            (Limit::Daily(Heavy), Free) => Some(1_000),
            (Limit::Daily(ResourceIntensive), Free) => Some(30_000),
            (Limit::Daily(_), _) => None,
            (Limit::HeavySharedDaily, Free) => None,
            (Limit::HeavySharedDaily, Pro) => Some(30_000),
            (Limit::HeavySharedDaily, BusinessPlus) => Some(60_000),
            (Limit::UserCreateDaily, Free) => Some(50),
            (Limit::UserCreateDaily, Pro) => Some(1_500),
            (Limit::UserCreateDaily, BusinessPlus) => Some(10_000),
        }
    }

    /// The daily quotas a call of `label` spends, where the account has them (`AccountLimits::get` is `None`
    /// where its plan has no such quota and no override gives it one): its label's own, and for Heavy and
    /// Resource-intensive calls the quota they share.
    pub fn daily_for(label: Label) -> impl Iterator<Item = Limit> {
        let shared = matches!(label, Label::Heavy | Label::ResourceIntensive);
        std::iter::once(Limit::Daily(label)).chain(shared.then_some(Limit::HeavySharedDaily))
    }
}

/// Per-account replacements of plan values: `Some(n)` a different count, `None` no limit at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(Vec<(Limit, Option<u32>)>);

impl Overrides {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, limit: Limit) -> Option<Option<u32>> {
        self.0.iter().find(|(l, _)| *l == limit).map(|(_, v)| *v)
    }

    /// Sets (`Some(value)`) or removes (`None`) the override of `limit`.
    pub fn set(&mut self, limit: Limit, value: Option<Option<u32>>) {
        self.0.retain(|(l, _)| *l != limit);
        if let Some(value) = value {
            self.0.push((limit, value));
        }
    }

    /// As stored: a JSON object of names to counts, `null` meaning no limit.
    pub fn to_json(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(limit, value)| (limit.name().to_string(), serde_json::json!(value)))
            .collect();
        Some(serde_json::Value::Object(map).to_string())
    }

    /// Parsed on every call of an account that has overrides, so it borrows rather than allocates.
    pub fn from_json(json: &str) -> Result<Overrides, String> {
        let map: std::collections::BTreeMap<&str, Option<u32>> =
            serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut overrides = Overrides::default();
        // A name this version does not know (written by a newer one) is skipped, not fatal: failing here would
        // lock every caller of the account out.
        for (name, value) in map {
            if let Some(limit) = Limit::parse(name) {
                overrides.set(limit, Some(value));
            }
        }
        Ok(overrides)
    }

    /// Parses the CLI's `NAME=N`, `NAME=unlimited` or `NAME=default` into a change for `set`.
    pub fn parse_assignment(text: &str) -> Result<(Limit, Option<Option<u32>>), String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("{text:?}: expected NAME=N, NAME=unlimited or NAME=default"))?;
        let limit = Limit::parse(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Limit::ALL.iter().map(|l| l.name()).collect();
            format!("unknown rate limit {name:?}: one of {}", names.join(", "))
        })?;
        let value = match value.trim() {
            "default" => None,
            "unlimited" => Some(None),
            n => Some(Some(n.parse::<u32>().map_err(|_| {
                format!("{name}: expected a count, `unlimited` or `default`, not {n:?}")
            })?)),
        };
        Ok((limit, value))
    }
}

/// As in `to_json`: a map of limit names to counts (`null`: no limit).
impl serde::Serialize for Overrides {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (limit, value) in &self.0 {
            map.serialize_entry(limit.name(), value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Overrides {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, Option<u32>>::deserialize(deserializer)?;
        let mut overrides = Overrides::default();
        for (name, value) in map {
            if let Some(limit) = Limit::parse(&name) {
                overrides.set(limit, Some(value));
            }
        }
        Ok(overrides)
    }
}

/// The quotas in force for one account: its plan's values with its overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLimits {
    pub plan: Plan,
    pub overrides: Overrides,
}

impl AccountLimits {
    pub fn get(&self, limit: Limit) -> Option<u32> {
        match self.overrides.get(limit) {
            Some(value) => value,
            None => limit.default_for(self.plan),
        }
    }
}

impl fmt::Display for AccountLimits {
    /// One line naming every quota in force, e.g. `light 30/s, medium 20/s, …, user-create-daily 1500/day`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for limit in Limit::ALL {
            let unit = match limit.period_ms() {
                1_000 => "s",
                60_000 => "min",
                _ => "day",
            };
            let text = match (self.get(limit), self.overrides.get(limit)) {
                (Some(count), _) => format!("{} {count}/{unit}", limit.name()),
                (None, Some(None)) => format!("{} unlimited", limit.name()),
                (None, _) => continue,
            };
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            f.write_str(&text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_overrides_replace_plan_values() {
        for limit in Limit::ALL {
            assert_eq!(Limit::parse(limit.name()), Some(limit));
        }
        let mut overrides = Overrides::default();
        overrides.set(Limit::Rate(Label::Light), Some(Some(3)));
        overrides.set(Limit::UserCreateDaily, Some(None));
        let stored = overrides.to_json().unwrap();
        assert_eq!(Overrides::from_json(&stored), Ok(overrides.clone()));
        let limits = AccountLimits {
            plan: Plan::Pro,
            overrides,
        };
        assert_eq!(limits.get(Limit::Rate(Label::Light)), Some(3));
        assert_eq!(limits.get(Limit::UserCreateDaily), None);
        assert_eq!(limits.get(Limit::Rate(Label::Medium)), Some(20));
        assert_eq!(
            Overrides::parse_assignment("light=default"),
            Ok((Limit::Rate(Label::Light), None))
        );
        assert!(Overrides::parse_assignment("lite=3").is_err());
    }

    #[test]
    fn daily_quotas_follow_the_plan() {
        let quotas = |label, plan| -> Vec<(Limit, u32)> {
            let limits = AccountLimits {
                plan,
                overrides: Overrides::default(),
            };
            Limit::daily_for(label)
                .filter_map(|l| Some((l, limits.get(l)?)))
                .collect()
        };
        assert_eq!(
            quotas(Label::Light, Plan::Free),
            [(Limit::Daily(Label::Light), 6_000)]
        );
        assert_eq!(quotas(Label::Light, Plan::Pro), []);
        assert_eq!(
            quotas(Label::ResourceIntensive, Plan::BusinessPlus),
            [(Limit::HeavySharedDaily, 60_000)]
        );
        let pro = AccountLimits {
            plan: Plan::Pro,
            overrides: Overrides::default(),
        };
        assert_eq!(
            pro.to_string(),
            "light 30/s, medium 20/s, heavy 10/s, resource-intensive 10/min, \
             heavy-resource-intensive-daily 30000/day, user-create-daily 1500/day"
        );
    }
}
