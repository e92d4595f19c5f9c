//! The enumerations sparkplug validates catalog values against equal the AWS SDK's own (generated from the service
//! models): a value AWS refuses is refused by `sparkplug validate`, and a value AWS adds is not.

use aws_sdk_emr::types::{
    ActionOnFailure, InstanceRoleType, MarketType, SpotProvisioningAllocationStrategy,
};
use aws_sdk_glue::types::WorkerType;
use sparkplug::catalog::shapes::enums;

fn sorted(values: &[&'static str]) -> Vec<&'static str> {
    let mut values = values.to_vec();
    values.sort_unstable();
    values
}

#[test]
fn validation_enumerations_are_the_sdks() {
    assert_eq!(
        sorted(enums::GLUE_WORKER_TYPES),
        sorted(WorkerType::values())
    );
    assert_eq!(sorted(enums::EMR_MARKETS), sorted(MarketType::values()));
    assert_eq!(
        sorted(enums::EMR_ACTIONS_ON_FAILURE),
        sorted(ActionOnFailure::values())
    );
    assert_eq!(
        sorted(enums::EMR_INSTANCE_ROLES),
        sorted(InstanceRoleType::values())
    );
    assert_eq!(
        sorted(enums::EMR_SPOT_ALLOCATION_STRATEGIES),
        sorted(SpotProvisioningAllocationStrategy::values())
    );
    assert_eq!(
        sorted(enums::EMR_SERVERLESS_ARCHITECTURES),
        sorted(aws_sdk_emrserverless::types::Architecture::values())
    );
}
