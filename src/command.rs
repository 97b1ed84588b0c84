//! The `server users` command: making users for the stores.
//!
//! - `server users hash`: reads a password and prints its PHC string (argon2id at the
//!   configured `PASSWORD_*` parameters) for a `USERS_FILE` line or a `USERS_PARAMETER` document;
//! - `server users add EMAIL [--replace]`: reads a password and writes the user into the
//!   DynamoDB table `USERS_TABLE` (with the caller's AWS credentials; `--replace` to change an
//!   existing user's password).
//!
//! The password comes from standard input, never from the command line (where `ps` and shell
//! history would show it): typed twice at a prompt without echo on a terminal, else the first
//! line of the input. It must be what `POST /auth` accepts (1–1024 characters, no control
//! characters). It is zeroized after hashing and never printed.

use crate::aws::dynamodb::UsersTable;
use crate::config::users::hash_settings_from_env;
use crate::password::{HashParameters, hash_password};
use crate::throttle::AccountLimits;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// Usage, printed for `--help` and after a usage error.
pub const USAGE: &str =
    "usage: server users hash             (password on stdin; prints the PHC string)
       server users add EMAIL [--replace]  (password on stdin; writes the user to USERS_TABLE)";

/// Runs `server users ARGS...` (`args` after `users`); the process's exit code: 0 done, 1
/// failed, 2 usage or configuration error.
pub async fn users(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["hash"] => match hash_settings_from_env() {
            Err(err) => misconfigured(&err.to_string()),
            Ok((write, _)) => match read_password().and_then(|password| hash(&password, write)) {
                Ok(phc) => {
                    println!("{phc}");
                    ExitCode::SUCCESS
                }
                Err(err) => fail(&err),
            },
        },
        ["add", email] | ["add", email, "--replace"] => {
            let replace = args.len() == 3;
            add(email, replace).await
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Prints `message` and returns exit code 1 (the command failed).
fn fail(message: &str) -> ExitCode {
    eprintln!("simple-jwt-api users: {message}");
    ExitCode::FAILURE
}

/// Prints `message` and returns exit code 2 (a usage or configuration error).
fn misconfigured(message: &str) -> ExitCode {
    eprintln!("simple-jwt-api users: {message}");
    ExitCode::from(2)
}

async fn add(email: &str, replace: bool) -> ExitCode {
    if !crate::users::table::acceptable_email(email.trim()) {
        return misconfigured("EMAIL must be 1-254 characters without control characters");
    }
    let Some(name) = std::env::var("USERS_TABLE").ok().filter(|name| !name.trim().is_empty())
    else {
        return misconfigured("USERS_TABLE: not set (the DynamoDB table to add the user to)");
    };
    let (write, floor) = match hash_settings_from_env() {
        Ok(settings) => settings,
        Err(err) => return misconfigured(&err.to_string()),
    };
    let phc = match read_password().and_then(|password| hash(&password, write)) {
        Ok(phc) => phc,
        Err(err) => return fail(&err),
    };
    let config = crate::aws::sdk_config().await;
    let table = UsersTable::new(&config, name.trim().to_owned(), floor, AccountLimits::default());
    match table.put_user(email, &phc, replace).await {
        Ok(()) => {
            eprintln!(
                "simple-jwt-api users: {} {:?} in table {:?}",
                if replace { "set" } else { "added" },
                email.trim(),
                table.name()
            );
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

/// The PHC string of `password` at `write` (no verifier: the command needs no dummy hash).
fn hash(password: &str, write: HashParameters) -> Result<String, String> {
    hash_password(write, password.as_bytes()).map_err(|err| err.to_string())
}

/// The password: prompted twice without echo on a terminal, else the first line of stdin.
fn read_password() -> Result<Zeroizing<String>, String> {
    let password = if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(
            rpassword::prompt_password("Password: ").map_err(|err| err.to_string())?,
        );
        let again =
            Zeroizing::new(rpassword::prompt_password("Again: ").map_err(|err| err.to_string())?);
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|err| format!("cannot read the password from stdin: {err}"))?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        line
    };
    let _ = std::io::stderr().flush();
    let chars = password.chars().count();
    if password.trim().is_empty() || chars > 1024 {
        return Err("the password must be 1-1024 characters and not blank".into());
    }
    if password.chars().any(char::is_control) {
        return Err(
            "the password must not contain control characters (POST /auth refuses them)".into()
        );
    }
    Ok(password)
}
