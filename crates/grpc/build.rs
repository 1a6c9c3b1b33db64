//! Compiles proto/docket/v1 in Rust (protox: no system protoc) into the messages, the servers and
//! the clients, and keeps the descriptor set for the reflection service.

use std::path::PathBuf;

use prost::Message as _;

const FILES: &[&str] = &[
    "docket/v1/common.proto",
    "docket/v1/cases.proto",
    "docket/v1/stats.proto",
    "docket/v1/directory.proto",
    "docket/v1/evidence.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("docket_v1.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
