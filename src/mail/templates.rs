//! The mails Agora sends, as plain text and HTML. Everything a user typed is escaped in the
//! HTML; links are built from `AGORA_APP_URL` or `AGORA_PUBLIC_URL`, never from a request's Host
//! header.

use html_escape::{encode_double_quoted_attribute, encode_text};

use super::Mail;

/// Where a mailed token is handled: `{base}/{page}#token=...`. In the fragment, the token
/// reaches no server's log (the front end's or a proxy's) and no Referer.
pub fn link(base: &str, page: &str, token: &str) -> String {
    // `Config::validate` refused a base that is not http(s), the only kind with a path.
    let Ok(mut url) = url::Url::parse(base) else {
        tracing::error!(base, "the base of mailed links is not a URL: no link");
        return base.to_owned();
    };
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push(page);
    }
    let fragment: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    url.set_fragment(Some(&fragment));
    url.to_string()
}

fn mail(kind: &'static str, to: &str, subject: &str, paragraphs: &[Paragraph<'_>]) -> Mail {
    let text = paragraphs
        .iter()
        .map(|paragraph| match paragraph {
            Paragraph::Text(text) => (*text).to_owned(),
            Paragraph::Link { label, url } => format!("{label}:\n{url}"),
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let body = paragraphs
        .iter()
        .map(|paragraph| match paragraph {
            Paragraph::Text(text) => format!("<p>{}</p>", encode_text(text)),
            Paragraph::Link { label, url } => format!(
                "<p><a href=\"{}\">{}</a></p>",
                encode_double_quoted_attribute(url),
                encode_text(label)
            ),
        })
        .collect::<String>();
    Mail {
        kind,
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!("{text}\n\n-- \nAgora\n"),
        html: format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body>{body}<p>— Agora</p></body></html>",
            encode_text(subject)
        ),
    }
}

enum Paragraph<'a> {
    Text(&'a str),
    Link { label: &'a str, url: &'a str },
}

use Paragraph::{Link, Text};

pub fn welcome(to: &str, username: &str, verify_url: &str) -> Mail {
    let greeting = format!("Welcome to Agora, {username}!");
    mail(
        "welcome",
        to,
        "Welcome to Agora: please confirm your email",
        &[
            Text(&greeting),
            Link {
                label: "Confirm this address (the link works for 24 hours)",
                url: verify_url,
            },
        ],
    )
}

pub fn verify_email(to: &str, username: &str, verify_url: &str) -> Mail {
    let greeting = format!("Hello {username},");
    mail(
        "verify_email",
        to,
        "Confirm your email address",
        &[
            Text(&greeting),
            Link {
                label: "Confirm this address (the link works for 24 hours)",
                url: verify_url,
            },
            Text("If you did not ask for this, ignore this mail."),
        ],
    )
}

pub fn password_reset(to: &str, username: &str, reset_url: &str) -> Mail {
    let greeting = format!("Hello {username},");
    mail(
        "password_reset",
        to,
        "Reset your Agora password",
        &[
            Text(&greeting),
            Text("Someone asked to reset the password of your account."),
            Link {
                label: "Choose a new password (the link works once, for 30 minutes)",
                url: reset_url,
            },
            Text("If it was not you, ignore this mail: your password stays as it is."),
        ],
    )
}

/// A notice that something about the account's security changed.
pub fn notice(kind: &'static str, to: &str, username: &str, what: &str) -> Mail {
    let greeting = format!("Hello {username},");
    mail(
        kind,
        to,
        &format!("Agora: {what}"),
        &[
            Text(&greeting),
            Text(&format!("{what}.")),
            Text("If this was not you, reset your password and contact an administrator."),
        ],
    )
}

/// After a change or a reset: every other session was signed out, and `api_tokens_revoked`
/// API tokens stopped working (said, so the owner knows their scripts need new ones).
pub fn password_changed(to: &str, username: &str, api_tokens_revoked: usize) -> Mail {
    let greeting = format!("Hello {username},");
    let ended = match api_tokens_revoked {
        0 => "Every other session was signed out.".to_owned(),
        1 => "Every other session was signed out, and your API token was revoked.".to_owned(),
        many => {
            format!("Every other session was signed out, and your {many} API tokens were revoked.")
        }
    };
    mail(
        "password_changed",
        to,
        "Agora: Your password was changed",
        &[
            Text(&greeting),
            Text("Your password was changed."),
            Text(&ended),
            Text("If this was not you, reset your password and contact an administrator."),
        ],
    )
}

pub fn two_factor_changed(to: &str, username: &str, enabled: bool) -> Mail {
    if enabled {
        notice(
            "two_factor_enabled",
            to,
            username,
            "Two-factor authentication was turned on",
        )
    } else {
        notice(
            "two_factor_disabled",
            to,
            username,
            "Two-factor authentication was turned off",
        )
    }
}

pub fn api_token_created(to: &str, username: &str, token_name: &str) -> Mail {
    notice(
        "api_token_created",
        to,
        username,
        &format!("A new API token, \"{token_name}\", was created"),
    )
}

pub fn email_changed(to_old: &str, username: &str, new_email: &str) -> Mail {
    notice(
        "email_changed",
        to_old,
        username,
        &format!("Your account's email address was changed to {new_email}"),
    )
}

/// After an account was deleted, to the address it had: what went and what stayed.
/// `by_administrator` when someone else deleted it.
pub fn account_deleted(to: &str, username: &str, by_administrator: bool) -> Mail {
    let greeting = format!("Hello {username},");
    let who = if by_administrator {
        "An administrator deleted your Agora account."
    } else {
        "Your Agora account was deleted, as you asked."
    };
    mail(
        "account_deleted",
        to,
        "Agora: Your account was deleted",
        &[
            Text(&greeting),
            Text(who),
            Text(
                "Your profile, sessions, API tokens, habits, tasks and themes are gone, and the \
                 items you held are back on the market. The record of your trades and your \
                 account's security log are kept, under a number instead of your name.",
            ),
            Text("This is the last mail we send to this address."),
        ],
    )
}

/// A habit's reminder: its name and the time the owner set (their wall clock).
pub fn habit_reminder(to: &str, username: &str, habit: &str, time: &str) -> Mail {
    let greeting = format!("Hello {username},");
    mail(
        "habit_reminder",
        to,
        &format!("Reminder: {habit}"),
        &[
            Text(&greeting),
            Text(&format!("It is {time}: time for \"{habit}\".")),
            Text("Once you mark today done or skipped, no more reminders come for it today."),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_token_in_the_fragment() {
        assert_eq!(
            link("https://agora.example/app/", "reset-password", "a+b/c"),
            "https://agora.example/app/reset-password#token=a%2Bb%2Fc"
        );
        assert_eq!(
            link("http://127.0.0.1:8080", "verify-email", "t"),
            "http://127.0.0.1:8080/verify-email#token=t"
        );
    }

    #[test]
    fn user_text_is_escaped_in_html_only() {
        let mail = welcome(
            "a@example.com",
            "<b>ada</b>",
            "https://x/verify-email?token=1&x=\"",
        );
        assert!(mail.text.contains("Welcome to Agora, <b>ada</b>!"));
        assert!(
            mail.html
                .contains("Welcome to Agora, &lt;b&gt;ada&lt;/b&gt;!")
        );
        assert!(
            mail.html
                .contains("href=\"https://x/verify-email?token=1&amp;x=&quot;\"")
        );
        assert!(!mail.html.contains("<b>ada"));
        let reminder = habit_reminder("a@example.com", "ada", "<i>Walk</i>", "07:30");
        assert_eq!(reminder.subject, "Reminder: <i>Walk</i>");
        assert!(
            reminder
                .text
                .contains("It is 07:30: time for \"<i>Walk</i>\".")
        );
        assert!(reminder.html.contains("&lt;i&gt;Walk&lt;/i&gt;"));
        let token = api_token_created("a@example.com", "ada", "<script>");
        assert!(token.html.contains("&lt;script&gt;"));
        assert_eq!(token.kind, "api_token_created");
    }
}
