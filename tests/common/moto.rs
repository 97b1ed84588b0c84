//! A real SSM API for tests: moto's server on a free loopback port, started by the test that
//! needs it and killed when the handle drops.

use super::tools;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region and dummy credentials every SSM test uses.
pub const REGION: &str = "us-east-1";
/// moto's fixed account id, for building parameter ARNs.
pub const ACCOUNT: &str = "123456789012";

/// A running `moto_server`.
pub struct Moto {
    child: Child,
    /// Its address.
    pub address: SocketAddr,
}

impl Moto {
    /// Installs moto (cached), starts it on a free port of 127.0.0.1, and waits until its SSM
    /// API has answered once (moto loads a service's backend on first use, which can take
    /// seconds on a busy machine and would eat into the server's start-up bound).
    pub async fn start() -> Moto {
        let bin = tools::venv("moto", &["moto[server]==5.2.5"]).join("moto_server");
        let address = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &address.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(address).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let moto = Moto { child, address };
        moto.client().await.describe_parameters().send().await.expect("moto answers SSM calls");
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The environment that points the real AWS SDK (in the server under test) at moto.
    pub fn env(&self) -> Vec<(String, String)> {
        sdk_env(&self.endpoint())
    }

    /// An SSM client for the test itself (to create and rotate parameters).
    pub async fn client(&self) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .http_client(simple_jwt_api::ssm::https_client())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// Stops moto now (to simulate SSM going down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Region, dummy credentials and `endpoint` for the SDK; never the instance-metadata service.
pub fn sdk_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A loopback address with a port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Creates or overwrites `name` as a SecureString and returns its new version.
pub async fn put_secret(client: &aws_sdk_ssm::Client, name: &str, value: &str) -> i64 {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .expect("put_parameter on moto")
        .version
}
