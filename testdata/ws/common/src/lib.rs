/// Shared by both binaries of the workspace fixture.
pub fn shared() -> &'static str {
    "from common"
}
