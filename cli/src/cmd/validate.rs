//! `sparkplug validate`: the catalog's problems, or a summary of what it holds.

use std::path::Path;

use sparkplug::catalog::{Catalog, Engine};

pub(crate) fn summary(path: &Path, catalog: &Catalog) -> String {
    let count = |engine| catalog.jobs.values().filter(|j| j.engine == engine).count();
    let s3 = catalog
        .jobs
        .values()
        .map(|j| j.trigger.s3.len())
        .sum::<usize>();
    let schedules = catalog
        .jobs
        .values()
        .filter(|j| j.trigger.schedule.is_some())
        .count();
    let chained = catalog
        .jobs
        .values()
        .filter(|j| !j.trigger.after.is_empty())
        .count();
    format!(
        "{}: {} job(s) valid ({} emr, {} glue, {} emr_serverless); {} S3 trigger(s), {} schedule(s), {} chained \
         job(s), {} warm pool(s)",
        path.display(),
        catalog.jobs.len(),
        count(Engine::Emr),
        count(Engine::Glue),
        count(Engine::EmrServerless),
        s3,
        schedules,
        chained,
        catalog.pools.len()
    )
}
