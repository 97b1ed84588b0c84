//! The real `server` binary as a child process on `127.0.0.1:0`. The port is learnt from its
//! "listening" log line; every log line is kept for assertions; the process is killed when
//! the handle is dropped, so no test leaves a server behind. The admin listener takes a free
//! loopback port of its own (read it with [`ServerProcess::admin`]), and SIGTERM stops at once
//! (no shutdown delay) unless a test asks for a delay.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server process.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Environment for a server that reads its secret from the environment.
pub fn env_with_secret(secret: &str) -> Vec<(String, String)> {
    vec![("JWT_SECRET".into(), secret.into())]
}

impl ServerProcess {
    /// Starts the server with a clean environment plus `env`, bound to a free loopback port,
    /// and waits until it logs that it is listening.
    pub fn start(env: &[(String, String)]) -> ServerProcess {
        Self::try_start(env).unwrap_or_else(|(status, logs)| {
            panic!("server exited during start-up with {status:?}; output:\n{}", logs.join("\n"))
        })
    }

    /// Like [`ServerProcess::start`], but returns the exit status and output if the process
    /// exits before listening (for start-up failure tests).
    pub fn try_start(env: &[(String, String)]) -> Result<ServerProcess, (ExitStatus, Vec<String>)> {
        Self::try_start_command(Command::new(crate::binary("server")), env)
    }

    /// Starts `command` (a server binary, possibly wrapped, e.g. in `chroot`) the same way:
    /// clean environment plus `env`, loopback, port 0 unless `env` sets `PORT`.
    pub fn start_command(command: Command, env: &[(String, String)]) -> ServerProcess {
        Self::try_start_command(command, env).unwrap_or_else(|(status, logs)| {
            panic!("server exited during start-up with {status:?}; output:\n{}", logs.join("\n"))
        })
    }

    fn try_start_command(
        mut command: Command,
        env: &[(String, String)],
    ) -> Result<ServerProcess, (ExitStatus, Vec<String>)> {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("BIND_ADDRESS", "127.0.0.1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Tests run in parallel: the admin listener on a free loopback port (9090 on all
            // interfaces by default), no 5 s delay.
            .env("ADMIN_PORT", "0")
            .env("ADMIN_BIND_ADDRESS", "127.0.0.1")
            .env("SHUTDOWN_DELAY_SECONDS", "0")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn the server binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = Arc::clone(&logs);
            let address_tx = address_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(address) = listening_address(&line) {
                        let _ = address_tx.send(address);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(address) = address_rx.recv_timeout(Duration::from_millis(20)) {
                return Ok(ServerProcess { child, address, logs });
            }
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50)); // let the readers drain
                return Err((status, logs.lock().unwrap().clone()));
            }
            assert!(Instant::now() < deadline, "server did not start within 30 s");
        }
    }

    /// The admin listener's address, from its "admin listening" log line (logged just after
    /// the public one; waits for it up to 10 s).
    pub fn admin(&self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(address) =
                self.logs().iter().find_map(|line| logged_address(line, "admin listening"))
            {
                return address;
            }
            assert!(Instant::now() < deadline, "no admin listener: {:?}", self.logs());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every line the process has written so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The process id, e.g. to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (what Kubernetes sends on pod deletion).
    pub fn terminate(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit and returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a `{"message":"listening","address":"127.0.0.1:PORT",...}` log line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    logged_address(line, "listening")
}

/// The address in a `{"message":MESSAGE,"address":"127.0.0.1:PORT",...}` log line.
fn logged_address(line: &str, message: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value["message"] != message {
        return None;
    }
    value["address"].as_str()?.parse().ok()
}

/// Runs a server binary to completion (for configurations that must be refused) and returns
/// its exit status and combined output.
pub fn run_to_exit(env: &[(String, String)]) -> (ExitStatus, String) {
    match ServerProcess::try_start(env) {
        Ok(mut server) => {
            let status = server.wait_exit(Duration::from_secs(1));
            panic!("server started and kept running ({status:?}): {:?}", server.logs())
        }
        Err((status, lines)) => (status, lines.join("\n")),
    }
}

/// The PHC string `server users hash` prints for `password` (piped on its stdin).
pub fn users_hash(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(crate::binary("server"))
        .args(["users", "hash"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run server users hash");
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "server users hash: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
