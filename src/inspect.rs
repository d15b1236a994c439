//! TEMPORARY stub until the real inspector lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Static,
    StaticPie,
    Dynamic,
}
impl LinkKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkKind::Static => "static",
            LinkKind::StaticPie => "static-pie",
            LinkKind::Dynamic => "dynamic",
        }
    }
}
#[derive(Debug, Clone)]
pub struct Inspection {
    pub machine: u16,
    pub arch: &'static str,
    pub variant: Option<&'static str>,
    pub kind: LinkKind,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub has_symtab: bool,
    pub has_debug: bool,
    pub exec_stack: bool,
    pub warnings: Vec<String>,
}
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("malformed: {0}")]
    Malformed(String),
}
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let elf = goblin::elf::Elf::parse(bytes).map_err(|e| InspectError::Malformed(e.to_string()))?;
    let kind = if elf.interpreter.is_some() || !elf.libraries.is_empty() {
        LinkKind::Dynamic
    } else if elf.header.e_type == 2 {
        LinkKind::Static
    } else {
        LinkKind::StaticPie
    };
    Ok(Inspection {
        machine: elf.header.e_machine,
        arch: "amd64",
        variant: None,
        kind,
        interpreter: elf.interpreter.map(str::to_string),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        has_symtab: false,
        has_debug: false,
        exec_stack: false,
        warnings: vec![],
    })
}
