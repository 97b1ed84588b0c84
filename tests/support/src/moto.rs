//! A real SSM API for tests: moto's server on a free loopback port, started once per test
//! binary on first use ([`Moto::shared`]); each test works on parameter names of its own.
//!
//! moto runs under a small Python wrapper that exits when its standard input closes. The test
//! binary holds the other end of that pipe for as long as it lives, so moto goes away with the
//! test process however that ends (a static is never dropped), and no server is left behind.

use crate::tools;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Region and dummy credentials every SSM test uses.
pub const REGION: &str = "us-east-1";
/// moto's fixed account id, for building parameter ARNs.
pub const ACCOUNT: &str = "123456789012";

/// Runs moto's server in this process and exits as soon as standard input reaches EOF.
const WRAPPER: &str = r#"
import os, sys, threading
from moto.server import main
def exit_on_eof():
    sys.stdin.buffer.read()
    os._exit(0)
threading.Thread(target=exit_on_eof, daemon=True).start()
main(sys.argv[1:])
"#;

/// A running moto server.
pub struct Moto {
    /// Its address.
    pub address: SocketAddr,
    /// The process and the pipe that keeps it alive.
    _process: Mutex<(Child, ChildStdin)>,
}

impl Moto {
    /// The binary's moto server, started on first use: installs moto (cached), starts it on a
    /// free port of 127.0.0.1, and waits until its SSM API has answered once (moto loads a
    /// service's backend on first use, which can take seconds on a busy machine and would eat
    /// into a server's start-up bound).
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let python =
            tools::venv("moto", &[tools::requirement("moto[server]", "MOTO")]).join("python");
        let address = free_port();
        let mut child = Command::new(python)
            .args(["-c", WRAPPER, "-H", "127.0.0.1", "-p", &address.port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto's server");
        let stdin = child.stdin.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(address).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "moto's server exited at start-up");
            assert!(Instant::now() < deadline, "moto's server did not listen within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let moto = Moto { address, _process: Mutex::new((child, stdin)) };
        // The SDK call runs on a runtime of its own: `shared` may be called from any test.
        let endpoint = moto.endpoint();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime
                .block_on(async { client(&endpoint).describe_parameters().send().await })
                .map(|_| ())
                .map_err(|err| std::io::Error::other(format!("{err:?}")))
        })
        .join()
        .unwrap()
        .expect("moto answers SSM calls");
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
    pub fn client(&self) -> aws_sdk_ssm::Client {
        client(&self.endpoint())
    }
}

fn client(endpoint: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .http_client(simple_jwt_api::aws::https_client())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
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

/// A DynamoDB client for the test itself, on moto.
pub fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .http_client(simple_jwt_api::aws::https_client())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Creates the users table as `template.yaml` declares it: partition key `email` (a string),
/// on-demand, TTL on `expires_at`.
pub async fn create_users_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("email")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("email")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create_table on moto");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("update_time_to_live on moto");
}
