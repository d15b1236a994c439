//! The system layer's files: the CA bundle and zoneinfo as decided for this
//! build, `/etc/passwd` + `/etc/group`, `/tmp`.
//!
//! In: the plan's contents and the CA/zoneinfo choices with preflight's decision
//! applied ([`SystemData`]). Out: the layer's nodes, what it holds (for the layer's
//! history), and where the CA bundle and zoneinfo came from (for the report). Why
//! apart from `image`: the decision is made at preflight, before the compile, and
//! travels here with the compiled binary; the report needs the source and version
//! of each data set.

use anyhow::Result;

use crate::config::Plan;
use crate::image::files::{self, DataSource, Provided};
use crate::image::layers::{self, Node};
use crate::report::DataReport;

/// The CA bundle and zoneinfo choices of one build, `Auto` decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemData {
    pub ca_certificates: DataSource,
    pub zoneinfo: DataSource,
}

impl SystemData {
    /// Without a dependency graph (`--binary`) nothing is known to read the
    /// data: `Auto` is off.
    pub fn without_graph(plan: &Plan) -> SystemData {
        SystemData {
            ca_certificates: plan.image.ca_certificates.decide(false),
            zoneinfo: plan.image.zoneinfo.decide(false),
        }
    }
}

/// The system layer of one build.
#[derive(Debug, Default)]
pub struct SystemLayer {
    pub nodes: Vec<Node>,
    /// `CA certificates`, `zoneinfo`, `/tmp`…, for the layer's history.
    pub held: Vec<&'static str>,
    pub ca_certificates: Option<DataReport>,
    pub zoneinfo: Option<DataReport>,
}

/// The nodes of the system layer (empty: no such layer).
pub fn system_layer(plan: &Plan, data: &SystemData) -> Result<SystemLayer> {
    let mut out = SystemLayer::default();
    if let Some(ca) = files::ca_certificates(&data.ca_certificates)? {
        out.ca_certificates = Some(report_of(&ca));
        out.nodes.extend(nodes(ca));
        out.held.push("CA certificates");
    }
    if let Some(tz) = files::zoneinfo_files(&data.zoneinfo)? {
        out.zoneinfo = Some(report_of(&tz));
        out.nodes.extend(nodes(tz));
        out.held.push("zoneinfo");
    }
    if plan.contents.passwd {
        out.nodes.extend(layers::passwd());
        out.held.push("/etc/passwd, /etc/group");
    }
    if plan.contents.tmp {
        out.nodes.push(layers::tmp());
        out.held.push("/tmp");
    }
    Ok(out)
}

fn report_of(p: &Provided) -> DataReport {
    DataReport {
        source: p.source.clone(),
        version: p.version.clone(),
        data: p.data.clone(),
        files: p.files.len() as u64,
        bytes: p.files.iter().map(|f| f.data.len() as u64).sum(),
    }
}

fn nodes(p: Provided) -> impl Iterator<Item = Node> {
    p.files
        .into_iter()
        .map(|f| Node::file(f.path, f.mode, f.data))
}
