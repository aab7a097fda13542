//! What an account and its apps are: the account's plan, and the kinds of OAuth app localzoom serves.

localzoom_api::wire_names! {
    /// An account's Zoom plan, as `--plan` names it. Rate limits follow it (`rate_limits::Plan::of`).
    AccountPlan {
        Free = "free",
        Pro = "pro",
        Business = "business",
        Enterprise = "enterprise",
    }
}

impl AccountPlan {
    /// The plan of an account created without one.
    pub const DEFAULT: AccountPlan = AccountPlan::Pro;
}

localzoom_api::wire_names! {
    /// The two kinds of OAuth app localzoom serves.
    AppKind {
        /// Server-to-Server: `account_credentials` grant, acts as the account owner with admin scopes.
        S2s = "s2s",
        /// User-managed: authorization-code grant, acts for the user who authorized it, as `me`.
        User = "user",
    }
}
