//! `sparkplug bucket enable-eventbridge`.

use std::path::Path;

use crate::output::say;
use crate::remote;

pub(crate) async fn enable_eventbridge(
    bucket: &str,
    local: bool,
    state_file: &Path,
) -> Result<(), String> {
    use sparkplug_cli::bucket::{self, Enabled};

    let (s3, config) = if local {
        let stack = sparkplug_cli::local::LocalStack::read(state_file)?;
        let config = remote::local_sdk_config(&stack).await;
        // The emulator serves buckets by path, not by virtual host.
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        (s3, config)
    } else {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        (aws_sdk_s3::Client::new(&config), config)
    };
    let account = bucket::caller_account(&aws_sdk_sts::Client::new(&config)).await?;
    match bucket::enable_eventbridge(&s3, &account, bucket).await? {
        Enabled::Already => {
            say!("{bucket}: already sends its events to EventBridge; nothing changed")
        }
        Enabled::Now { kept } => {
            say!("{bucket}: sends its events to EventBridge now; its {kept} other notification(s) kept")
        }
    }
    Ok(())
}
