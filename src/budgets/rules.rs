//! How budgets combine and what a budget may hold.
//!
//! A user's roles combine as their permissions do, as a union: per limit, the most generous of
//! their roles' values, and a role that leaves a limit at the server's default makes it the
//! default for the user. Otherwise giving someone an extra role (say `analyst`, with a tight
//! budget meant for its own scripts) would throttle everything else they do. An API token is
//! the tighter of its own budget and its owner's: a token can narrow what its owner may do,
//! never widen it, just as its permissions are a subset of the owner's.
//!
//! Budgets only narrow the server's limits (depth, complexity and the statement timeout are
//! capped by the server's own), since those protect the server, not the caller.

use super::model::{Budget, Ceilings};
use crate::error::AppError;

/// The most requests per minute a budget may allow: the in-process counter charges a request
/// 60,000 / N cells of a 60,000-cell minute, so N may not exceed 60,000.
pub const MAX_REQUESTS_PER_MINUTE: i32 = 60_000;

/// The shortest statement timeout a budget may set: below this, connecting statements such
/// as a session check would fail on a loaded server.
pub const MIN_STATEMENT_TIMEOUT_MS: i32 = 10;

/// Per limit, the most generous of `budgets` (`None` as soon as one of them leaves it at the
/// server's default); with no budgets at all, the server's defaults.
pub fn most_generous(budgets: &[Budget]) -> Budget {
    let widest = |value: fn(&Budget) -> Option<i32>| {
        budgets
            .iter()
            .map(value)
            .try_fold(None::<i32>, |widest, this| {
                this.map(|this| Some(widest.map_or(this, |widest| widest.max(this))))
            })
            .flatten()
    };
    Budget {
        requests_per_minute: widest(|b| b.requests_per_minute),
        max_complexity: widest(|b| b.max_complexity),
        max_depth: widest(|b| b.max_depth),
        statement_timeout_ms: widest(|b| b.statement_timeout_ms),
    }
}

/// Per limit, the tighter of the two (a default gives way to a ceiling).
pub fn tighter(a: Budget, b: Budget) -> Budget {
    let least = |a: Option<i32>, b: Option<i32>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Budget {
        requests_per_minute: least(a.requests_per_minute, b.requests_per_minute),
        max_complexity: least(a.max_complexity, b.max_complexity),
        max_depth: least(a.max_depth, b.max_depth),
        statement_timeout_ms: least(a.statement_timeout_ms, b.statement_timeout_ms),
    }
}

/// The limits a request with `budget` runs under, given the server's. A stored value above the
/// server's (the server's setting lowered since) yields to the server's.
pub fn ceilings(budget: Budget, server: Ceilings) -> Ceilings {
    let under = |value: Option<i32>, ceiling: usize| {
        value
            .and_then(|value| usize::try_from(value).ok())
            .map_or(ceiling, |value| value.min(ceiling))
    };
    Ceilings {
        requests_per_minute: budget
            .requests_per_minute
            .and_then(|value| u32::try_from(value).ok()),
        max_complexity: under(budget.max_complexity, server.max_complexity),
        max_depth: under(budget.max_depth, server.max_depth),
        statement_timeout_ms: budget
            .statement_timeout_ms
            .and_then(|value| u32::try_from(value).ok())
            .map_or(server.statement_timeout_ms, |value| {
                value.min(server.statement_timeout_ms)
            }),
    }
}

/// `budget` if each of its values lies within what the server allows, else `BAD_USER_INPUT`
/// naming the first field that does not.
pub fn checked(budget: Budget, server: Ceilings) -> Result<Budget, AppError> {
    let within = |field: &'static str, value: Option<i32>, low: i32, high: usize| match value {
        Some(value) if value < low || usize::try_from(value).is_ok_and(|value| value > high) => {
            Err(AppError::bad_input(
                field,
                format!(
                    "{field} must be between {low} and {high}, or null for the server's default"
                ),
            ))
        }
        _ => Ok(()),
    };
    let max_timeout = usize::try_from(server.statement_timeout_ms).unwrap_or(usize::MAX);
    within(
        "requestsPerMinute",
        budget.requests_per_minute,
        1,
        MAX_REQUESTS_PER_MINUTE as usize,
    )?;
    within(
        "maxComplexity",
        budget.max_complexity,
        1,
        server.max_complexity,
    )?;
    within("maxDepth", budget.max_depth, 1, server.max_depth)?;
    within(
        "statementTimeoutMs",
        budget.statement_timeout_ms,
        MIN_STATEMENT_TIMEOUT_MS,
        max_timeout,
    )?;
    Ok(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(
        rpm: Option<i32>,
        complexity: Option<i32>,
        depth: Option<i32>,
        ms: Option<i32>,
    ) -> Budget {
        Budget {
            requests_per_minute: rpm,
            max_complexity: complexity,
            max_depth: depth,
            statement_timeout_ms: ms,
        }
    }

    const SERVER: Ceilings = Ceilings {
        requests_per_minute: None,
        max_complexity: 5000,
        max_depth: 12,
        statement_timeout_ms: 30_000,
    };

    #[test]
    fn roles_combine_to_the_most_generous_and_a_default_wins() {
        let analyst = budget(Some(60), Some(500), Some(5), Some(100));
        let support = budget(Some(600), Some(200), None, Some(50));
        assert_eq!(
            most_generous(&[analyst, support]),
            budget(Some(600), Some(500), None, Some(100))
        );
        assert_eq!(most_generous(&[analyst]), analyst);
        assert_eq!(
            most_generous(&[analyst, Budget::default()]),
            Budget::default()
        );
        assert_eq!(most_generous(&[]), Budget::default());
    }

    #[test]
    fn a_token_gets_the_tighter_of_its_own_and_its_owners() {
        let owner = budget(Some(600), None, Some(8), Some(1000));
        let token = budget(Some(60), Some(300), Some(10), None);
        assert_eq!(
            tighter(owner, token),
            budget(Some(60), Some(300), Some(8), Some(1000))
        );
        assert_eq!(tighter(owner, Budget::default()), owner);
        assert_eq!(tighter(Budget::default(), token), token);
    }

    #[test]
    fn ceilings_lay_a_budget_over_the_servers_limits() {
        assert_eq!(ceilings(Budget::default(), SERVER), SERVER);
        assert_eq!(
            ceilings(budget(Some(30), Some(100), Some(4), Some(150)), SERVER),
            Ceilings {
                requests_per_minute: Some(30),
                max_complexity: 100,
                max_depth: 4,
                statement_timeout_ms: 150,
            }
        );
        // Stored before the server's own limits were lowered: the server's win.
        let lowered = Ceilings {
            statement_timeout_ms: 100,
            ..SERVER
        };
        assert_eq!(
            ceilings(budget(None, Some(9000), None, Some(150)), lowered).statement_timeout_ms,
            100
        );
        assert_eq!(
            ceilings(budget(None, Some(9000), None, None), SERVER).max_complexity,
            5000
        );
    }

    #[test]
    fn budgets_stay_within_the_servers_limits() {
        let field = |budget: Budget| match checked(budget, SERVER) {
            Ok(_) => None,
            Err(AppError::BadUserInput { field, .. }) => Some(field),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(field(budget(Some(1), Some(1), Some(1), Some(10))), None);
        assert_eq!(
            field(budget(Some(60_000), Some(5000), Some(12), Some(30_000))),
            None
        );
        assert_eq!(field(Budget::default()), None);
        assert_eq!(
            field(budget(Some(0), None, None, None)),
            Some("requestsPerMinute")
        );
        assert_eq!(
            field(budget(Some(60_001), None, None, None)),
            Some("requestsPerMinute")
        );
        assert_eq!(
            field(budget(None, Some(-5), None, None)),
            Some("maxComplexity")
        );
        assert_eq!(
            field(budget(None, Some(5001), None, None)),
            Some("maxComplexity")
        );
        assert_eq!(field(budget(None, None, Some(13), None)), Some("maxDepth"));
        assert_eq!(
            field(budget(None, None, None, Some(9))),
            Some("statementTimeoutMs")
        );
        assert_eq!(
            field(budget(None, None, None, Some(30_001))),
            Some("statementTimeoutMs")
        );
    }
}
