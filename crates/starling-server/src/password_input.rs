//! Where `starling user add` and `user passwd` take the password from.
//!
//! A password on the command line is visible to every local user in the
//! process list and stays in the shell's history, so it is the last
//! resort (and warns). [`choose`] is the pure decision; reading is left to
//! the command line.
//!
//! | given | source |
//! |---|---|
//! | `--password P` | `P`, with [`ARGUMENT_WARNING`] on standard error |
//! | `--password-file FILE` | the first line of `FILE` (`-`: standard input) |
//! | `--password-stdin` | one line of standard input |
//! | `STARLING_PASSWORD` (not empty) | its value |
//! | nothing, standard input is a terminal | asked twice without echo |
//! | nothing, standard input is not a terminal | one line of standard input |
//!
//! ```
//! use starling_server::password_input::{PasswordArgs, PasswordSource, choose};
//!
//! let args = PasswordArgs { file: Some("pw.txt".into()), ..PasswordArgs::default() };
//! assert_eq!(choose(&args, None, true), Ok(PasswordSource::File("pw.txt".into())));
//! assert_eq!(choose(&PasswordArgs::default(), None, true), Ok(PasswordSource::Prompt));
//! ```

use std::path::PathBuf;

/// Printed when the password comes from `--password`.
pub const ARGUMENT_WARNING: &str = "warning: --password puts the password in the process list \
     (visible to every local user) and in the shell history; prefer the prompt, \
     --password-file FILE, --password-stdin or STARLING_PASSWORD";

/// The password options of a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordArgs {
    /// `--password`.
    pub argument: Option<String>,
    /// `--password-file`.
    pub file: Option<PathBuf>,
    /// `--password-stdin`.
    pub stdin: bool,
}

/// Where the password is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Given on the command line (warn).
    Argument(String),
    /// The `STARLING_PASSWORD` environment variable.
    Environment(String),
    /// The first line of a file.
    File(PathBuf),
    /// One line of standard input.
    Stdin,
    /// Asked on the terminal, without echo.
    Prompt,
}

impl PasswordSource {
    /// The warning to print for this source, if any.
    pub fn warning(&self) -> Option<&'static str> {
        matches!(self, PasswordSource::Argument(_)).then_some(ARGUMENT_WARNING)
    }
}

/// More than one source was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("give the password one way only: --password, --password-file or --password-stdin")]
pub struct TooManySources;

/// Chooses the source: at most one option; then the environment (`env` is
/// `STARLING_PASSWORD`, ignored when empty); then the terminal, or
/// standard input when it is not a terminal.
pub fn choose(
    args: &PasswordArgs,
    env: Option<String>,
    stdin_is_terminal: bool,
) -> Result<PasswordSource, TooManySources> {
    let given = usize::from(args.argument.is_some())
        + usize::from(args.file.is_some())
        + usize::from(args.stdin);
    if given > 1 {
        return Err(TooManySources);
    }
    if let Some(p) = &args.argument {
        return Ok(PasswordSource::Argument(p.clone()));
    }
    if let Some(f) = &args.file {
        if f.as_os_str() == "-" {
            return Ok(PasswordSource::Stdin);
        }
        return Ok(PasswordSource::File(f.clone()));
    }
    if args.stdin {
        return Ok(PasswordSource::Stdin);
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return Ok(PasswordSource::Environment(p));
    }
    Ok(if stdin_is_terminal {
        PasswordSource::Prompt
    } else {
        PasswordSource::Stdin
    })
}

/// The first line of `text`, without its line ending.
pub fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or_default();
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argument: Option<&str>, file: Option<&str>, stdin: bool) -> PasswordArgs {
        PasswordArgs {
            argument: argument.map(str::to_owned),
            file: file.map(PathBuf::from),
            stdin,
        }
    }

    /// Options, `STARLING_PASSWORD`, stdin is a terminal, the choice.
    type Case = (
        PasswordArgs,
        Option<String>,
        bool,
        Result<PasswordSource, TooManySources>,
    );

    #[test]
    fn the_source_is_chosen_in_order() {
        use PasswordSource::*;
        let env = || Some("from-env".to_owned());
        let cases: [Case; 12] = [
            (
                args(Some("p"), None, false),
                env(),
                true,
                Ok(Argument("p".into())),
            ),
            (
                args(None, Some("f"), false),
                env(),
                true,
                Ok(File("f".into())),
            ),
            (args(None, Some("-"), false), None, true, Ok(Stdin)),
            (args(None, None, true), env(), true, Ok(Stdin)),
            (
                args(None, None, false),
                env(),
                true,
                Ok(Environment("from-env".into())),
            ),
            (
                args(None, None, false),
                env(),
                false,
                Ok(Environment("from-env".into())),
            ),
            (
                args(None, None, false),
                Some(String::new()),
                true,
                Ok(Prompt),
            ),
            (args(None, None, false), None, true, Ok(Prompt)),
            (args(None, None, false), None, false, Ok(Stdin)),
            (
                args(Some("p"), Some("f"), false),
                None,
                true,
                Err(TooManySources),
            ),
            (args(Some("p"), None, true), None, true, Err(TooManySources)),
            (args(None, Some("f"), true), None, true, Err(TooManySources)),
        ];
        for (a, e, tty, want) in cases {
            assert_eq!(
                choose(&a, e.clone(), tty),
                want,
                "{a:?} env={e:?} tty={tty}"
            );
        }
    }

    #[test]
    fn only_the_argument_warns() {
        assert_eq!(
            PasswordSource::Argument("p".into()).warning(),
            Some(ARGUMENT_WARNING)
        );
        for s in [
            PasswordSource::Environment("p".into()),
            PasswordSource::File("f".into()),
            PasswordSource::Stdin,
            PasswordSource::Prompt,
        ] {
            assert_eq!(s.warning(), None, "{s:?}");
        }
    }

    #[test]
    fn first_line_table() {
        let cases = [
            ("secret\n", "secret"),
            ("secret\r\nnext\n", "secret"),
            ("secret", "secret"),
            ("", ""),
            ("\nsecond", ""),
            (" spaces kept \n", " spaces kept "),
        ];
        for (text, want) in cases {
            assert_eq!(first_line(text), want, "{text:?}");
        }
    }
}
