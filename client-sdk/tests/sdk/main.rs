//! The SDK against a real Licet server (in-process, random port, temporary data dir), each
//! test with its own server and its own client storage.

mod activation;
mod floating;
#[path = "../../../server/tests/common/moto.rs"]
mod moto;
mod network;
mod offline;
mod replay;
mod storage;
mod support;
mod tampering;
mod trials;
mod updates;
mod updates_s3;
